// Package shared is the root of the module shared by every Helm Deployer service.
package shared
