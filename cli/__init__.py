"""The `vm` command: ``main`` (the composition root) and its subcommands.

gRPC's core library writes log lines of its own straight to stderr (a port it could
not bind, a stream reset by a peer), beside the command's one-line reports and the
node's log. The command silences them unless the user has set ``GRPC_VERBOSITY``
(``GRPC_VERBOSITY=debug vm node ...`` shows them); it must be set before gRPC is first
loaded, which is why it is done here, before any subcommand is imported."""
import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
