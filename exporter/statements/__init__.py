"""The query performance tracker: classification, sanitization, detection, report, advisor helpers.

Nothing here imports the exporter's settings at run time (settings import this
package for the ``statements:`` section), and nothing here talks to the driver
directly except :mod:`exporter.statements.whatif`.
"""
