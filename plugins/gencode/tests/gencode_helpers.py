"""Checks shared by the gencode CLI tests (a module of its own: test modules cannot import conftest)."""


def no_output(path):
    """Neither the output folder nor its staging ``.partial`` exists (nothing left behind)."""
    return not path.exists() and not path.with_name(path.name + ".partial").exists()


def err_line(res):
    """The one ``genotool: error:`` line of a failed command (asserts there is exactly one)."""
    lines = [line for line in res.stderr.splitlines() if line.startswith("genotool: error:")]
    assert len(lines) == 1, res.stderr
    return lines[0]
