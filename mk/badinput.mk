# Bad-input catalogue (tests/badinput): every case feeds the running service
# binaries bad input (raw config DB entries, pods, NADs) next to a good one,
# against a real etcd, the local control plane (with kwok) and a chart
# repository, and checks the message where the user looks, that nothing
# crashed and that the good input converged. Writes docs/bad-input.md.
#   make bad-input

.PHONY: bad-input

bad-input: ## bad-input catalogue over the three services; writes docs/bad-input.md
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes kwok
	@mkdir -p docs
	cd tests && SDP_BADINPUT_REPORT="$(CURDIR)/docs/bad-input.md" go test -count=1 -timeout 10m -run '^TestBadInput$$' -v ./badinput/
