"""The lane's gate core: pure, table-driven, fed inputs and time, returning ordered outputs.

Start at :mod:`edge.gate.lane` (``Lane``), :mod:`edge.gate.inputs` and
:mod:`edge.gate.outputs`; every transition is in :mod:`edge.gate.table`.
"""
