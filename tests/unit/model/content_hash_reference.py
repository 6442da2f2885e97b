#!/usr/bin/env python3
"""Expected content hashes for tests/unit/model/hash_test.cpp (ContentHash.IsStableAcrossBuilds).

A second implementation of the row hash of src/model/hash.cpp, written from its
description (seed, per-word multiply/rotate mix, little-endian words, tail marker 0xA5,
field framing tags, final avalanche), so that the pinned constants in the test do not
come from the code they check. Prints each row's hash as the test writes it.
Run: python3 tests/unit/model/content_hash_reference.py
"""

import struct

M = (1 << 64) - 1
def rotl(v, r): return ((v << r) | (v >> (64 - r))) & M
NULL = 0x4E554C4C4E554C4C
class H:
    def __init__(s): s.st = 0x6D64657379E3C001
    def mix(s, v):
        v = (v * 0x87C37B91114253D5) & M
        v = rotl(v, 31)
        v = (v * 0x4CF5AD432745937F) & M
        s.st ^= v
        s.st = (rotl(s.st, 27) * 5 + 0x52DCE729) & M
    def u64(s, v): s.mix(v & M)
    def bytes_(s, b):
        while len(b) >= 8:
            s.mix(int.from_bytes(b[:8], 'little')); b = b[8:]
        if b: s.mix(int.from_bytes(b, 'little') ^ (0xA5 << 56))
    def str_(s, t):
        b = t.encode()
        s.u64(0x5354520000000000 ^ len(b)); s.bytes_(b)
    def ostr(s, t):
        if t is None: s.u64(NULL)
        else: s.str_(t)
    def obool(s, b): s.u64(NULL if b is None else (0xB1 if b else 0xB0))
    def oint(s, i):
        if i is None: s.u64(NULL)
        else: s.u64(0x1A7); s.u64(i)
    def odbl(s, d):
        if d is None: s.u64(NULL)
        else: s.u64(0xD0B); s.u64(struct.unpack('<Q', struct.pack('<d', 0.0 if d == 0 else d))[0])
    def otime(s, us):
        if us is None: s.u64(NULL)
        else: s.u64(0x713E); s.u64(us)
    def lst(s, vs):
        s.u64(0x11570000 ^ len(vs))
        for v in vs: s.str_(v)
    def olst(s, vs):
        if vs is None: s.u64(NULL)
        else: s.lst(vs)
    def enum(s, e): s.u64(0xE0000 + e)
    def finish(s):
        h = s.st
        h ^= h >> 33; h = (h * 0xFF51AFD7ED558CCD) & M
        h ^= h >> 33; h = (h * 0xC4CEB9FE1A85EC53) & M
        h ^= h >> 33
        return h

def signed(h): return h - (1 << 64) if h >= (1 << 63) else h

def package(uid, name, status, cats, vendor, weak, pe, aa, em, imp, versions):
    h = H(); h.str_(uid); h.ostr(name); h.enum(status); h.lst(cats)
    h.ostr(vendor); h.oint(weak); h.obool(pe); h.obool(aa); h.oint(em); h.odbl(imp)
    h.u64(len(versions))
    for v, i, n in versions: h.str_(v); h.oint(i); h.oint(n)
    return h.finish()

# 1. Package: uid and name only, everything else default (status active = 0).
p1 = package("mozilla-_-firefox", "firefox", 0, [], None, None, None, None, None, None, [])
# 2. Package with every kind of field.
p2 = package("google-_-chrome", "chrome", 1, ["Software", "Vulnerable"], "google", 3, True, False, 120, 12.5,
             [("120.0.6099.109", 80, 2), ("121.0.6167.85", None, 0)])

# 3. Vulnerability
def vuln():
    h = H()
    h.str_("dev1_google_chrome_120.0_CVE-2024-0001")  # uid
    h.ostr(None)                                       # source_uid
    h.str_("CVE-2024-0001")                            # type
    h.str_("dev1")                                     # targets
    h.lst(["web-01", "web-01.contoso.com"])            # hostnames
    h.otime(1735689600_000000)                          # first_found 2025-01-01T00:00:00Z
    h.otime(1735732800_500000)                          # last_found 2025-01-01T12:00:00.5Z
    h.otime(None)                                      # source_last_modified
    h.otime(None)                                      # last_fixed
    h.enum(2)                                          # status reopened
    h.enum(0)                                          # status_category open
    h.ostr("Active")                                   # source_status
    h.enum(1)                                          # severity high
    h.ostr("high")                                     # source_severity
    h.ostr(None)                                       # results
    h.ostr("7"); h.ostr("Servers"); h.ostr("Windows11"); h.ostr(None); h.ostr("x64")
    h.odbl(7.5)
    for _ in range(5): h.ostr(None)
    h.obool(True); h.obool(None)
    h.ostr("google"); h.ostr("chrome"); h.ostr("120.0")
    return h.finish()

for name, v in [("minimal package", p1), ("full package", p2), ("vulnerability", vuln())]:
    print(f"{name}: 0x{v:016x}ULL (row_hash {signed(v)})")
