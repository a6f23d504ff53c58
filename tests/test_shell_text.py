"""One place builds shell text (phoenix_remote/host/shell.py): elsewhere no f-string splices
a quoted value into a command, and nothing else imports shlex. (Display text in describe()
may show a quoted argv.)"""

import ast
import re

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


# Who may write a file on a host by shell text, and why (everything else: InstallFile)
FILE_WRITERS = {
    "host/install.py": "the one installer: content from stdin, backup, check, restore",
    "engine/ledger.py": "the lock's owner note in the engine's own state directory",
    "host/network.py": "the commit job's revert note in /run, read back by the engine",
    "steps/nvidia.py": "gpg --dearmor -o: a key downloaded on the host, unknown at plan time",
    "steps/lxc_inside.py": "a setup script from stdin into a temp file inside a container, "
                           "removed after its run",
    "steps/lxc_raw.py": "a container's raw lxc.* lines, as PVE edits its config: under its "
                        "config lock, old file backed up, renamed into place",
}
# modules whose strings never reach a shell (markup): their `>` is not a redirection
NOT_SHELL = {"cli/report.py": "the HTML report's markup, written by Python to a local file"}
WRITE = re.compile(r"(?<![-=&<>:\w])>>?\s*(?!&|/dev/null)\S|\btee\b|\bgpg\b.*\s-o\s|\bdd\b.*of=")


def shell_writes(tree: ast.AST) -> list[int]:
    """Lines of string constants (not docstrings) that write a file by shell redirection."""
    skip = {id(node.body[0].value) for node in ast.walk(tree)  # docstrings
            if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
            and node.body and isinstance(node.body[0], ast.Expr)}
    skip |= {id(part) for node in ast.walk(tree)  # f-string format specs such as {x:>9}
             if isinstance(node, ast.FormattedValue) and node.format_spec
             for part in ast.walk(node.format_spec)}
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skip and WRITE.search(node.value)]


def test_no_file_is_written_outside_the_installer():
    found, writers = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if rel in NOT_SHELL:
            assert "host.shell" not in path.read_text(), f"{rel} builds shell text"
            continue
        lines = shell_writes(ast.parse(path.read_text()))
        if lines and rel in FILE_WRITERS:
            writers.add(rel)
        elif lines:
            found += [f"{rel}:{n}" for n in lines]
    assert found == [], "files written by shell text (use InstallFile): " + ", ".join(found)
    assert writers == set(FILE_WRITERS), "an allowed writer no longer writes: drop it"


def test_the_write_check_finds_redirections():
    tree = ast.parse('"""doc > x"""\nA = "echo x >> /etc/motd"\nB = "true 2>/dev/null >&2"\n'
                     'C = "printf %s | tee /etc/x"\nD = "cat > \\"$f\\""\nE = f"{x:>9}"\n')
    assert shell_writes(tree) == [2, 4, 5]
