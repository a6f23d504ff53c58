"""python -m tests.sandbox up N [--gpu-less 2,3] [--pve 8|9|8,9] | down | purge I | build"""

import sys

from tests.sandbox import lab


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd = argv[0]
    if cmd == "up":
        n = int(argv[1]) if len(argv) > 1 else 3
        gpu_less = tuple(int(x) for x in argv[argv.index("--gpu-less") + 1].split(",")) \
            if "--gpu-less" in argv else ()
        pve = argv[argv.index("--pve") + 1] if "--pve" in argv else "8"
        lab.up(n, gpu_less, pve)
    elif cmd == "down":
        lab.down()
    elif cmd == "purge":
        lab.purge(int(argv[1]))
    elif cmd == "build":
        lab.build(tuple(argv[1].split(",")) if len(argv) > 1 else ("8",))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
