"""Native twin of DeltaBlue.som: the DeltaBlue incremental constraint solver on its
chain and projection workloads."""
from __future__ import annotations

from collections import deque
from typing import ClassVar


class Strength:
    """A constraint strength: a level from 0 (required, strongest) to 6 (weakest)."""
    __slots__ = ("level",)
    levels: ClassVar[list[Strength]] = []

    def __init__(self, level: int) -> None:
        self.level = level

    def stronger(self, other: Strength) -> bool:
        return self.level < other.level

    def weaker(self, other: Strength) -> bool:
        return self.level > other.level

    def weakest(self, other: Strength) -> Strength:
        return self if self.weaker(other) else other

    def next_weaker(self) -> Strength:
        return Strength.levels[self.level + 1]


Strength.levels = [Strength(level) for level in range(7)]
REQUIRED, STRONG_PREFERRED, PREFERRED, STRONG_DEFAULT, NORMAL, WEAK_DEFAULT, WEAKEST = Strength.levels


class Variable:
    __slots__ = ("constraints", "determined_by", "mark", "stay", "value", "walk_strength")

    def __init__(self, value: int) -> None:
        self.value = value
        self.constraints: list[Constraint] = []
        self.determined_by: Constraint | None = None
        self.walk_strength = WEAKEST
        self.stay = True
        self.mark = 0

    def add_constraint(self, constraint: Constraint) -> None:
        self.constraints.append(constraint)

    def remove_constraint(self, constraint: Constraint) -> None:
        self.constraints.remove(constraint)
        if self.determined_by is constraint:
            self.determined_by = None


class Constraint:
    def __init__(self, strength: Strength, planner: Planner) -> None:
        self.strength = strength
        self.planner = planner

    def add_constraint(self) -> None:
        self.add_to_graph()
        self.planner.incremental_add(self)

    def destroy_constraint(self) -> None:
        if self.is_satisfied():
            self.planner.incremental_remove(self)
        else:
            self.remove_from_graph()

    def is_input(self) -> bool:
        return False

    def satisfy(self, mark: int) -> Constraint | None:
        """Try to satisfy myself at this mark; answer the constraint I overrode."""
        self.choose_method(mark)
        if not self.is_satisfied():
            if self.strength is REQUIRED:
                raise RuntimeError("could not satisfy a required constraint")
            return None
        self.mark_inputs(mark)
        out = self.output()
        overridden = out.determined_by
        if overridden is not None:
            overridden.mark_unsatisfied()
        out.determined_by = self
        if not self.planner.add_propagate(self, mark):
            raise RuntimeError("cycle encountered")
        out.mark = mark
        return overridden


class UnaryConstraint(Constraint):
    def __init__(self, variable: Variable, strength: Strength, planner: Planner) -> None:
        super().__init__(strength, planner)
        self.my_output = variable
        self.satisfied = False
        self.add_constraint()

    def add_to_graph(self) -> None:
        self.my_output.add_constraint(self)
        self.satisfied = False

    def remove_from_graph(self) -> None:
        if self.my_output is not None:
            self.my_output.remove_constraint(self)
        self.satisfied = False

    def choose_method(self, mark: int) -> None:
        self.satisfied = (self.my_output.mark != mark
                          and self.strength.stronger(self.my_output.walk_strength))

    def is_satisfied(self) -> bool:
        return self.satisfied

    def mark_inputs(self, mark: int) -> None:
        pass

    def mark_unsatisfied(self) -> None:
        self.satisfied = False

    def output(self) -> Variable:
        return self.my_output

    def inputs_known(self, mark: int) -> bool:
        return True

    def recalculate(self) -> None:
        self.my_output.walk_strength = self.strength
        self.my_output.stay = not self.is_input()
        if self.my_output.stay:
            self.execute()


class StayConstraint(UnaryConstraint):
    def execute(self) -> None:
        pass


class EditConstraint(UnaryConstraint):
    def is_input(self) -> bool:
        return True

    def execute(self) -> None:
        pass


FORWARD, BACKWARD = "forward", "backward"


class BinaryConstraint(Constraint):
    def __init__(self, v1: Variable, v2: Variable, strength: Strength, planner: Planner) -> None:
        super().__init__(strength, planner)
        self.v1 = v1
        self.v2 = v2
        self.direction: str | None = None

    def add_to_graph(self) -> None:
        self.v1.add_constraint(self)
        self.v2.add_constraint(self)
        self.direction = None

    def remove_from_graph(self) -> None:
        if self.v1 is not None:
            self.v1.remove_constraint(self)
        if self.v2 is not None:
            self.v2.remove_constraint(self)
        self.direction = None

    def choose_method(self, mark: int) -> None:
        v1, v2, strength = self.v1, self.v2, self.strength
        if v1.mark == mark:
            self.direction = FORWARD if (v2.mark != mark and strength.stronger(v2.walk_strength)) else None
            return
        if v2.mark == mark:
            self.direction = BACKWARD if (v1.mark != mark and strength.stronger(v1.walk_strength)) else None
            return
        if v1.walk_strength.weaker(v2.walk_strength):
            self.direction = BACKWARD if strength.stronger(v1.walk_strength) else None
        else:
            self.direction = FORWARD if strength.stronger(v2.walk_strength) else None

    def is_satisfied(self) -> bool:
        return self.direction is not None

    def mark_inputs(self, mark: int) -> None:
        self.input().mark = mark

    def mark_unsatisfied(self) -> None:
        self.direction = None

    def input(self) -> Variable:
        return self.v1 if self.direction is FORWARD else self.v2

    def output(self) -> Variable:
        return self.v2 if self.direction is FORWARD else self.v1

    def inputs_known(self, mark: int) -> bool:
        source = self.input()
        return source.mark == mark or (source.stay or source.determined_by is None)

    def recalculate(self) -> None:
        source = self.input()
        out = self.output()
        out.walk_strength = self.strength.weakest(source.walk_strength)
        out.stay = source.stay
        if out.stay:
            self.execute()


class EqualityConstraint(BinaryConstraint):
    def __init__(self, v1: Variable, v2: Variable, strength: Strength, planner: Planner) -> None:
        super().__init__(v1, v2, strength, planner)
        self.add_constraint()

    def execute(self) -> None:
        self.output().value = self.input().value


class ScaleConstraint(BinaryConstraint):
    def __init__(self, source: Variable, scale: Variable, offset: Variable,
                 destination: Variable, strength: Strength, planner: Planner) -> None:
        super().__init__(source, destination, strength, planner)
        self.scale = scale
        self.offset = offset
        self.add_constraint()

    def add_to_graph(self) -> None:
        super().add_to_graph()
        self.scale.add_constraint(self)
        self.offset.add_constraint(self)

    def remove_from_graph(self) -> None:
        super().remove_from_graph()
        if self.scale is not None:
            self.scale.remove_constraint(self)
        if self.offset is not None:
            self.offset.remove_constraint(self)

    def mark_inputs(self, mark: int) -> None:
        super().mark_inputs(mark)
        self.scale.mark = mark
        self.offset.mark = mark

    def execute(self) -> None:
        if self.direction is FORWARD:
            self.v2.value = self.v1.value * self.scale.value + self.offset.value
        else:
            self.v1.value = (self.v2.value - self.offset.value) // self.scale.value

    def recalculate(self) -> None:
        source = self.input()
        out = self.output()
        out.walk_strength = self.strength.weakest(source.walk_strength)
        out.stay = source.stay and (self.scale.stay and self.offset.stay)
        if out.stay:
            self.execute()


class Plan:
    def __init__(self) -> None:
        self.constraints: list[Constraint] = []

    def add(self, constraint: Constraint) -> None:
        self.constraints.append(constraint)

    def execute(self) -> None:
        for each in self.constraints:
            each.execute()


class Planner:
    def __init__(self) -> None:
        self.current_mark = 0

    def new_mark(self) -> int:
        self.current_mark += 1
        return self.current_mark

    def incremental_add(self, constraint: Constraint) -> None:
        mark = self.new_mark()
        overridden = constraint.satisfy(mark)
        while overridden is not None:
            overridden = overridden.satisfy(mark)

    def incremental_remove(self, constraint: Constraint) -> None:
        out = constraint.output()
        constraint.mark_unsatisfied()
        constraint.remove_from_graph()
        unsatisfied = self.remove_propagate_from(out)
        strength = REQUIRED
        while True:
            for each in unsatisfied:
                if each.strength is strength:
                    self.incremental_add(each)
            strength = strength.next_weaker()
            if strength is WEAKEST:
                break

    def make_plan(self, sources: deque) -> Plan:
        mark = self.new_mark()
        plan = Plan()
        todo = sources
        while todo:
            constraint = todo.popleft()
            if constraint.output().mark != mark and constraint.inputs_known(mark):
                plan.add(constraint)
                constraint.output().mark = mark
                self.add_constraints_consuming_to(constraint.output(), todo)
        return plan

    def extract_plan_from_constraints(self, constraints: list[Constraint]) -> Plan:
        sources: deque = deque()
        for each in constraints:
            if each.is_input() and each.is_satisfied():
                sources.append(each)
        return self.make_plan(sources)

    def add_propagate(self, constraint: Constraint, mark: int) -> bool:
        todo = deque([constraint])
        while todo:
            each = todo.popleft()
            if each.output().mark == mark:
                self.incremental_remove(constraint)
                return False
            each.recalculate()
            self.add_constraints_consuming_to(each.output(), todo)
        return True

    def remove_propagate_from(self, out: Variable) -> list[Constraint]:
        out.determined_by = None
        out.walk_strength = WEAKEST
        out.stay = True
        unsatisfied: list[Constraint] = []
        todo = deque([out])
        while todo:
            variable = todo.popleft()
            for each in variable.constraints:
                if not each.is_satisfied():
                    unsatisfied.append(each)
            determining = variable.determined_by
            for following in variable.constraints:
                if following is not determining and following.is_satisfied():
                    following.recalculate()
                    todo.append(following.output())
        return unsatisfied

    def add_constraints_consuming_to(self, variable: Variable, collection: deque) -> None:
        determining = variable.determined_by
        for each in variable.constraints:
            if each is not determining and each.is_satisfied():
                collection.append(each)

    def change(self, variable: Variable, new_value: int) -> None:
        edit = EditConstraint(variable, PREFERRED, self)
        plan = self.extract_plan_from_constraints([edit])
        for _ in range(10):
            variable.value = new_value
            plan.execute()
        edit.destroy_constraint()


def chain_test(n: int) -> int:
    planner = Planner()
    variables = [Variable(0) for _ in range(n + 1)]
    for i in range(n):
        EqualityConstraint(variables[i], variables[i + 1], REQUIRED, planner)
    StayConstraint(variables[n], STRONG_DEFAULT, planner)
    edit = EditConstraint(variables[0], PREFERRED, planner)
    plan = planner.extract_plan_from_constraints([edit])
    total = 0
    for value in range(1, 101):
        variables[0].value = value
        plan.execute()
        if variables[n].value != value:
            raise RuntimeError("chain test failed")
        total += variables[n].value
    edit.destroy_constraint()
    return total


def projection_test(n: int) -> int:
    planner = Planner()
    scale = Variable(10)
    offset = Variable(1000)
    destinations: list[Variable] = []
    source = destination = None
    for i in range(1, n + 1):
        source = Variable(i)
        destination = Variable(i)
        destinations.append(destination)
        StayConstraint(source, NORMAL, planner)
        ScaleConstraint(source, scale, offset, destination, REQUIRED, planner)
    planner.change(source, 17)
    if destination.value != 1170:
        raise RuntimeError("projection test 1 failed")
    planner.change(destination, 1050)
    if source.value != 5:
        raise RuntimeError("projection test 2 failed")
    planner.change(scale, 5)
    for i in range(1, n):
        if destinations[i - 1].value != i * 5 + 1000:
            raise RuntimeError("projection test 3 failed")
    planner.change(offset, 2000)
    for i in range(1, n):
        if destinations[i - 1].value != i * 5 + 2000:
            raise RuntimeError("projection test 4 failed")
    total = 0
    for each in destinations:
        total += each.value
    return total


def benchmark(n: int) -> list[int]:
    return [chain_test(n), projection_test(n)]


def verify(n: int, result: object) -> bool:
    """The chain's end follows the edits 1..100; after the last projection change each
    destination but the last is i*5+2000, and the last (source edited to 5) is 2025."""
    projection = sum(i * 5 + 2000 for i in range(1, n)) + 5 * 5 + 2000
    return result == [sum(range(1, 101)), projection]
