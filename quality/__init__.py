"""The data-quality gate: Great Expectations behind one door (``gx_adapter``), the day's checks (``checks``).

Only :mod:`quality.gx_adapter` imports ``great_expectations``; everything it returns is plain data.
"""
