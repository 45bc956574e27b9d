"""Pure logic of the mesh: no I/O, time comes in through an injected clock."""
