"""The one error type the exporter raises for bad input; the CLI prints it as one line."""


class ExportError(Exception):
    pass
