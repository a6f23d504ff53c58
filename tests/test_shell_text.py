"""One place builds shell text (phoenix_remote/host/shell.py): elsewhere no f-string splices
a quoted value into a command, and nothing else imports shlex. (Display text in describe()
may show a quoted argv.)"""

import ast

from tests.conftest import ROOT

PACKAGE = ROOT / "phoenix_remote"
BUILDER = PACKAGE / "host" / "shell.py"
QUOTERS = {"quote", "q", "sh"}


def spliced_quotes(tree: ast.AST) -> list[int]:
    """Lines of f-strings that embed a quote()/q()/sh() call, outside describe()."""
    bad: list[int] = []

    def visit(node: ast.AST, in_describe: bool) -> None:
        if isinstance(node, ast.FunctionDef):
            in_describe = node.name == "describe"
        if isinstance(node, ast.JoinedStr) and not in_describe:
            for part in node.values:
                if isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Call):
                    func = part.value.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(
                        func, "id", "")
                    if name in QUOTERS:
                        bad.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, in_describe)
    visit(tree, False)
    return bad


def test_no_shell_text_is_built_outside_the_builder():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == BUILDER:
            continue
        text = path.read_text()
        tree = ast.parse(text)
        found += [f"{path.relative_to(ROOT)}:{line}" for line in spliced_quotes(tree)]
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        for node in imports:
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if "shlex" in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports shlex")
    assert found == [], "shell text built by hand (use host.shell.sh): " + ", ".join(found)


def test_the_check_itself_finds_a_spliced_quote():
    tree = ast.parse('def probe(p):\n    return f"cat {quote([p])}"\n')
    assert spliced_quotes(tree) == [2]
