"""Primitives of System (the ``system`` global): globals, class loading, console output,
clocks, garbage collection and leaving the VM."""
from __future__ import annotations

import gc

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError, file_failure_text, os_error_text
from smalltalk_vm.vm.objects import KIND_PRIMITIVE_INTERPRETED, VClass
from smalltalk_vm.vm.primitives.context import trace_lines
from smalltalk_vm.vm.primitives.registry import control, primitive
from smalltalk_vm.vm.text import escape_surrogates


@primitive("System", "global:")
def system_global(vm, rcv, name):
    return vm.globals.get(vm.str_of(name), V.NIL)


@primitive("System", "global:put:")
def system_global_put(vm, rcv, name, val):
    key = vm.str_of(name)
    problem = vm.rebind_problem(key, val)
    if problem is not None:
        raise vm.signal("Error", problem)
    vm.globals[key] = val
    return val


@primitive("System", "hasGlobal:")
def system_has_global(vm, rcv, name):
    return V.TRUE if vm.str_of(name) in vm.globals else V.FALSE


@primitive("System", "removeGlobal:")
def system_remove_global(vm, rcv, name):
    key = vm.str_of(name)
    problem = vm.rebind_problem(key)
    if problem is not None:
        raise vm.signal("Error", problem)
    return vm.globals.pop(key, V.NIL)


def _load(vm, loader, what: str):
    try:
        cls = loader()
    except (LoadError, SmalltalkSyntaxError) as error:
        raise vm.signal("Error", f"cannot load {what}: {error}") from None
    except OSError as error:
        raise vm.signal("Error", f"cannot load {what}: {os_error_text(error)}") from None
    return V.NIL if cls is None else cls


@primitive("System", "load:")
def system_load(vm, rcv, name):
    class_name = vm.str_of(name)
    return _load(vm, lambda: vm.load_class(class_name), class_name)


@primitive("System", "loadFile:")
def system_load_file(vm, rcv, path):
    """The contents of a text file, or nil when it cannot be read."""
    try:
        with open(vm.str_of(path), encoding="utf-8") as handle:
            return vm.new_string(handle.read())
    except (OSError, UnicodeDecodeError):
        return V.NIL


@primitive("System", "loadClassFile:")
def system_load_class_file(vm, rcv, path):
    filename = vm.str_of(path)
    return _load(vm, lambda: vm.load_class_file(filename), filename)


# It may redefine a class whose methods are running: native code leaves it to the
# interpreter, which goes on in the retargeted code (vm.obsolete).
system_load_class_file.inline_kind = KIND_PRIMITIVE_INTERPRETED


@primitive("System", "printString:")
def system_print_string(vm, rcv, text):
    vm.output(escape_surrogates(vm.str_of(text)))
    return rcv


@primitive("System", "printNewline")
def system_print_newline(vm, rcv):
    vm.output("\n")
    return rcv


@primitive("System", "errorPrint:")
def system_error_print(vm, rcv, text):
    vm.error_output(escape_surrogates(vm.str_of(text)))
    return rcv


@primitive("System", "errorPrintln:")
def system_error_println(vm, rcv, text):
    vm.error_output(escape_surrogates(vm.str_of(text)) + "\n")
    return rcv


@control("System", "printStackTrace")
def system_print_stack_trace(interp, ctx, argc):
    ctx.stack[-1] = V.TRUE
    interp.vm.output("".join(line + "\n" for line in trace_lines(ctx)))
    return ctx


@primitive("System", "time")
def system_time(vm, rcv):
    """Milliseconds since the VM started."""
    return vm.make_int(int(vm.clock_ms()))


@primitive("System", "ticks")
def system_ticks(vm, rcv):
    """Microseconds since the VM started."""
    return vm.make_int(int(vm.clock_ms() * 1000))


@primitive("System", "fullGC")
def system_full_gc(vm, rcv):
    gc.collect()
    return V.TRUE


@primitive("System", "gcStats")
def system_gc_stats(vm, rcv):
    counts = gc.get_count()
    collections = sum(stat["collections"] for stat in gc.get_stats())
    return vm.new_array([vm.make_int(collections), vm.make_int(sum(counts)), vm.make_int(0)])


@primitive("System", "totalCompilationTime")
def system_total_compilation_time(vm, rcv):
    return vm.make_int(int(getattr(vm, "compilation_seconds", 0.0) * 1000))


@control("System", "exit:")
def system_exit(interp, ctx, argc):
    code = ctx.stack.pop()
    ctx.stack.pop()
    vm = interp.vm
    try:
        status = vm.int_of(code)
    except Exception:
        status = 1
    vm.exit_status = status
    interp.process.ctx = ctx
    return


@primitive("System", "classNamed:")
def system_class_named(vm, rcv, name):
    found = vm.globals.get(vm.str_of(name))
    return found if isinstance(found, VClass) else V.NIL


@control("System", "saveImage:")
def system_save_image(interp, ctx, argc):
    """Snapshot the whole VM. Answers #saved here; the same call answers #resumed when
    the image is resumed later (the snapshot is taken with #resumed as its result)."""
    vm = interp.vm
    path_value = ctx.stack.pop()
    ctx.stack.pop()
    if vm.image_saver is None:
        return interp.signal_exception(ctx, "Error", "this VM cannot save images")
    try:
        path = vm.str_of(path_value)
    except Exception:
        return interp.signal_exception(ctx, "Error", "saveImage: needs a path String")
    ctx.stack.append(vm.symbol("resumed"))
    interp.process.ctx = ctx
    try:
        vm.image_saver(path)
    except Exception as error:
        ctx.stack.pop()
        return interp.signal_exception(ctx, "Error", f"cannot save image {file_failure_text(error, path)}")
    ctx.stack[-1] = vm.symbol("saved")
    return ctx


@control("System", "evaluate:")
def system_evaluate(interp, ctx, argc):
    """Evaluate a do-it (statements, a class definition or a method definition) and
    answer its value, the class or the method."""
    vm = interp.vm
    text_value = ctx.stack.pop()
    ctx.stack.pop()
    if vm.doit_compiler is None:
        return interp.signal_exception(ctx, "Error", "this VM has no compiler")
    try:
        compiled = vm.doit_compiler(vm.str_of(text_value))
    except SmalltalkSyntaxError as error:
        return interp.signal_exception(ctx, "Error", error.located())
    except Exception as error:
        return interp.signal_exception(ctx, "Error", str(error))
    if compiled.kind == "statements":
        ctx.stack.append(V.NIL)
        return interp.method_context(ctx, compiled.method, 0)
    answer = compiled.cls if compiled.kind == "class" else compiled.method
    migrator = vm.code_versions.take_fresh_migrator()
    if migrator is not None:             # the loader sees its instances migrated
        ctx.stack.extend((vm.kernel_class("Code"), answer, migrator))
        code_class = vm.kernel_class("Code").cls
        return interp.method_context(ctx, vm.lookup(code_class, "answer:afterMigration:"), 2)
    ctx.stack.append(answer)
    return ctx
