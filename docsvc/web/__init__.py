"""HTTP interface: thin views that parse input, call one service, shape the output."""
