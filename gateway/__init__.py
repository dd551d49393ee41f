"""voxgate gateway: the Starlette app, sessions, call legs and the CLI."""
