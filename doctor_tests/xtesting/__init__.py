"""Run Doctor under Xtesting (OPNFV's CI test-case driver).

``driver.DoctorTestCase`` is an ``xtesting.core.testcase.TestCase``: its ``run()`` runs the
pytest scenarios and turns ``results/profile.json`` into ``self.result`` and
``self.details``; ``testcases.yaml`` declares the cases. Xtesting is optional and imported
only by the driver; the mapping logic lives in :mod:`.mapping` and needs nothing else.
"""
