"""The VM's primitives, one module per family of classes. Importing this package
registers them all (see ``registry``)."""
from smalltalk_vm.vm.primitives import (  # noqa: F401  (imported for their registrations)
    array,
    block,
    code,
    context,
    debug,
    double,
    exceptions,
    globalnames,
    integer,
    klass,
    library,
    library_set,
    migration,
    node,
    object,
    process,
    remote,
    string,
    system,
    wire,
)
