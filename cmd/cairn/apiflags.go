package main

import (
	"flag"

	"github.com/cairnfs/cairn/server"
)

// apiFlags are the HTTP port's access settings, shared by `cairn meta`
// and `cairn server`.
type apiFlags struct {
	allowedHosts, allowedOrigins *string
	pprof                        *bool
}

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		allowedHosts:   fs.String("allowed-hosts", "", "Host names the REST API answers besides localhost, IP literals and this server's own names, comma-separated; * = any (a defence against DNS rebinding)"),
		allowedOrigins: fs.String("allowed-origins", "", "browser origins (scheme://host[:port]) whose cross-origin requests the REST API answers, comma-separated; * = any (default: none)"),
		pprof:          fs.Bool("pprof", false, "serve /debug/pprof/ on the HTTP port"),
	}
}

// apply sets the flags' settings in a metadata peer's configuration.
func (f apiFlags) apply(mc *server.MetaConfig) {
	mc.API.AllowedHosts = splitList(*f.allowedHosts)
	mc.API.AllowedOrigins = splitList(*f.allowedOrigins)
	mc.Pprof = *f.pprof
}
