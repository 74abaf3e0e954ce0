module github.com/ska-telescope/sdp-helmdeploy/services/release-manager

go 1.26

require github.com/ska-telescope/sdp-helmdeploy/shared v0.0.0

replace github.com/ska-telescope/sdp-helmdeploy/shared => ../../shared
