// Package configdb is the Helm Deployer's contract with the SDP configuration
// database: the one place that knows key layouts and JSON shapes.
//
// The layout is wire-compatible with the Python ska-sdp-config library:
//
//   - Keys are depth-tagged: a logical path such as /deploy/foo is stored under
//     the etcd key "2/deploy/foo", where 2 is the number of '/' in the path. An
//     optional global prefix (for example /test) goes in front of the path
//     before tagging: "3/test/deploy/foo". Listing the children of a directory
//     is a prefix read on the tagged directory path ("2/deploy/"), which by
//     construction does not see grandchildren ("3/deploy/foo/state").
//   - Values are JSON objects written as Python's
//     json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False) writes them.
//     Readers never depend on formatting.
//
// Entries, with their Go types:
//
//	/deploy/<id>                          Deployment
//	/deploy/<id>/state                    DeploymentState ("pods", "reasons" and "release" parts)
//	/resource/network-attachment-definition:<namespace>:<name>   NetworkResource
//	/resource/supernet:<name>             SupernetResource
//
// Services speak in these typed values through Store; no other package builds
// a key string or a JSON document of the database.
//
// It is the bottom of the product: the services and sdpctl reach the config
// DB only through it. Who writes and reads which key: docs/architecture.md, §3. Who owns which key.
package configdb
