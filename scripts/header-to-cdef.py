#!/usr/bin/env python3
"""Turn include/hostgate.h into the declarations cffi's cdef() accepts (bindings/python).

cffi parses plain C declarations only: this drops comments, #include lines, the include guard,
string macros and the C++/C23-only branches of the header, keeping the C99 view of it.
Usage: header-to-cdef.py HEADER > OUT
"""
import re
import sys


def clean(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    stack = []  # one bool per open #if: is this branch kept?
    for raw in text.splitlines():
        line = re.sub(r"//.*", "", raw).rstrip()
        s = line.strip()
        if s.startswith("#"):
            d = s[1:].strip()
            if d.startswith("ifndef"):
                stack.append("__cplusplus" in d or "HOSTGATE_H" in d)
            elif d.startswith("ifdef"):
                stack.append("__cplusplus" not in d)
            elif d.startswith("if"):
                # Only C++ and C23 conditions appear in the header; cffi reads it as C99.
                stack.append(not ("__cplusplus" in d or "__STDC_VERSION__" in d))
            elif d.startswith("else"):
                stack[-1] = not stack[-1]
            elif d.startswith("endif"):
                stack.pop()
            elif all(stack) and re.match(r"define\s+HOSTGATE_\w+\s+\d+$", d):
                out.append("#" + d)
            continue
        if all(stack) and s:
            out.append(line)
    assert not stack, "unbalanced #if in header"
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write(clean(f.read()))
