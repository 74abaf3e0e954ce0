// Package shared is the root of the module shared by every Helm Deployer service.
//
// Its packages are the product code the three services (and sdpctl) share;
// which holds what, and what may require what: docs/architecture.md, §1. The rooms.
package shared
