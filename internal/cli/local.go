package cli

// localCommands are the commands that open storage and read files in this
// process instead of calling a server. Package cli may not import storage
// or the server, so [Env].Local runs them; they are listed here for help
// and dispatch.
func localCommands() map[string]*command {
	return map[string]*command{
		"operator migrate":  {synopsis: "Migrates data between storage backends", local: true},
		"operator diagnose": {synopsis: "Checks a server's configuration and surroundings before it starts", local: true},
	}
}
