"""Primitives of Class and Method: instantiation and reflection on the class hierarchy
and on compiled methods."""
from __future__ import annotations

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed, method_name
from smalltalk_vm.vm.objects import CompiledMethod, VArray, VClass, inherits
from smalltalk_vm.vm.primitives.registry import control, primitive


def _check_class(rcv):
    if type(rcv) is not VClass:
        raise PrimitiveFailed("receiver is not a class")
    return rcv


@primitive("Class", "new")
def class_new(vm, rcv):
    return vm.new_instance(_check_class(rcv))


@primitive("Class", "name")
def class_name(vm, rcv):
    return vm.symbol(_check_class(rcv).name)


@primitive("Class", "superclass")
def class_superclass(vm, rcv):
    superclass = _check_class(rcv).superclass
    return V.NIL if superclass is None else superclass


@primitive("Class", "fields")
def class_fields(vm, rcv):
    """All instance variable names, inherited ones first, as Symbols."""
    return vm.new_array([vm.symbol(n) for n in vm.all_field_names(_check_class(rcv))])


@primitive("Class", "instanceFieldNames")
def class_own_fields(vm, rcv):
    """The instance variables this class itself declares."""
    return vm.new_array([vm.symbol(n) for n in _check_class(rcv).instance_fields])


@primitive("Class", "methods")
def class_methods(vm, rcv):
    return vm.new_array(list(_check_class(rcv).methods.values()))


@primitive("Class", "selectors")
def class_selectors(vm, rcv):
    return vm.new_array([vm.symbol(s) for s in _check_class(rcv).methods])


@primitive("Class", "hasMethod:")
def class_has_method(vm, rcv, selector):
    return V.TRUE if vm.str_of(selector) in _check_class(rcv).methods else V.FALSE


@primitive("Class", "canUnderstand:")
def class_can_understand(vm, rcv, selector):
    return V.TRUE if vm.lookup(_check_class(rcv), vm.str_of(selector)) is not None else V.FALSE


@primitive("Class", "lookup:")
def class_lookup(vm, rcv, selector):
    method = vm.lookup(_check_class(rcv), vm.str_of(selector))
    return V.NIL if method is None else method


@primitive("Class", "subclasses")
def class_subclasses(vm, rcv):
    return vm.new_array([c for c in _check_class(rcv).subclasses if not c.is_meta or rcv.is_meta])


@primitive("Class", "isMetaclass")
def class_is_metaclass(vm, rcv):
    return V.TRUE if _check_class(rcv).is_meta else V.FALSE


@primitive("Class", "definitionSource")
def class_definition_source(vm, rcv):
    cls = _check_class(rcv)
    if cls.is_meta:
        cls = vm.globals.get(cls.name[:-len(" class")], cls)
    return V.NIL if not cls.source else vm.new_string(cls.source)


@primitive("Metaclass", "soleInstance")
def metaclass_sole_instance(vm, rcv):
    cls = _check_class(rcv)
    found = vm.globals.get(cls.name[:-len(" class")]) if cls.is_meta else None
    return V.NIL if found is None else found


# ---------------------------------------------------------------- methods

def _check_method(rcv):
    if type(rcv) is not CompiledMethod:
        raise PrimitiveFailed("receiver is not a method")
    return rcv


@primitive("Method", "signature")
def method_signature(vm, rcv):
    return vm.symbol(_check_method(rcv).selector)


@primitive("Method", "holder")
def method_holder(vm, rcv):
    holder = _check_method(rcv).holder
    return V.NIL if holder is None else holder


@primitive("Method", "source")
def method_source(vm, rcv):
    return vm.new_string(_check_method(rcv).source or "")


@primitive("Method", "numArgs")
def method_num_args(vm, rcv):
    return vm.make_int(_check_method(rcv).num_args)


@primitive("Method", "isPrimitive")
def method_is_primitive(vm, rcv):
    return V.TRUE if _check_method(rcv).primitive is not None else V.FALSE


@control("Method", "invokeOn:with:")
def method_invoke_on_with(interp, ctx, argc):
    """Run the method on any receiver whose class inherits from the method's class
    (Pharo's check: anything else would run it on an object without its shape)."""
    stack = ctx.stack
    args = stack.pop()
    receiver = stack.pop()
    method = stack.pop()
    if type(method) is not CompiledMethod:
        return interp.signal_exception(ctx, "Error", "invokeOn:with: needs a compiled method as receiver")
    if type(args) is not VArray or len(args.items) != method.num_args:
        return interp.signal_exception(ctx, "Error", "invokeOn:with: needs an Array of the method's arguments")
    receiver_class = interp.vm.class_of(receiver)
    if method.holder is None or not inherits(receiver_class, method.holder):
        holder = method.holder.name if method.holder is not None else "no class"
        return interp.signal_exception(
            ctx, "Error", f"invokeOn:with: {method_name(method)} cannot run on an instance of "
                          f"{receiver_class.name}: {holder} is not in its inheritance chain")
    stack.append(receiver)
    stack.extend(args.items)
    return interp.activate(ctx, method, method.num_args)
