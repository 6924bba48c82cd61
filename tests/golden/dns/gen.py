#!/usr/bin/python3
"""Golden DNS wire files for dnsd.

    gen.py requests   writes cases/<name>.req (query bytes) and cases.txt
    gen.py check      parses every cases/<name>.resp with dnspython, checks
                      the invariants below and writes cases/<name>.txt, the
                      readable form that reviewers diff

The responses (.resp) are written by the unit test itself:

    TRIBUNE_GOLDEN_UPDATE=1 build-dns/tests/test_dnsd_answer

which answers each .req from fixture.json with the shuffle seeded to 1
before every case and the SOA serial fixed at 1700000000, so the bytes are
deterministic.  Without the variable the test compares and fails on any
difference.  After an update: run `gen.py check`, read the .txt diff, and
compare with a live server the same way (see README.md).
"""
import os
import sys

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")

# name, qname, qtype, EDNS payload size (None = no EDNS), transport
QUERIES = [
    ("svc_a", "web.service.consul", "A", 1232, "udp"),
    ("svc_a_noedns_tc", "web.service.consul", "A", None, "udp"),
    ("svc_a_tcp", "web.service.consul", "A", None, "tcp"),
    ("svc_srv", "web.service.consul", "SRV", 1232, "udp"),
    ("svc_srv_noedns_tc", "web.service.consul", "SRV", None, "udp"),
    ("svc_tag", "v1.web.service.consul", "A", 1232, "udp"),
    ("svc_rfc2782", "_web._v2.service.consul", "SRV", 1232, "udp"),
    ("svc_rfc2782_noservice", "_web._tcp.consul", "SRV", 1232, "udp"),
    ("svc_dc_case", "WEB.Service.DC1.Consul", "A", 1232, "udp"),
    ("svc_dc_label", "web.service.dc1.dc.consul", "A", 1232, "udp"),
    ("svc_warning", "db.service.consul", "SRV", 1232, "udp"),
    ("svc_maint_nx", "redis.service.consul", "A", 1232, "udp"),
    ("svc_all_critical_nx", "api.service.consul", "A", 1232, "udp"),
    ("svc_nodata_txt", "web.service.consul", "TXT", 1232, "udp"),
    ("svc_aaaa", "web6.service.consul", "AAAA", 1232, "udp"),
    ("svc_v6only_a_nodata", "web6.service.consul", "A", 1232, "udp"),
    ("svc_dual_a", "dual.service.consul", "A", 1232, "udp"),
    ("svc_dual_aaaa", "dual.service.consul", "AAAA", 1232, "udp"),
    ("svc_hostname_srv", "ext.service.consul", "SRV", 1232, "udp"),
    ("svc_hostname_cname", "ext.service.consul", "A", 1232, "udp"),
    ("svc_alt_domain", "web.service.tribune", "SRV", 1232, "udp"),
    ("servers", "consul.service.consul", "A", 1232, "udp"),
    ("node_a", "server1.node.consul", "A", 1232, "udp"),
    ("node_txt", "server1.node.consul", "TXT", 1232, "udp"),
    ("node_any", "server1.node.dc1.consul", "ANY", 1232, "udp"),
    ("node_aaaa", "v6node.node.consul", "AAAA", 1232, "udp"),
    ("node_nodata", "node2.node.consul", "AAAA", 1232, "udp"),
    ("node_nx", "nobody.node.consul", "A", 1232, "udp"),
    ("other_dc_nx", "web.service.dc9.consul", "A", 1232, "udp"),
    ("addr_v4", "c0a80105.addr.consul", "A", 1232, "udp"),
    ("addr_v6", "20010db8000000000000000000000006.addr.dc1.consul", "AAAA", 1232, "udp"),
    ("addr_bad_nx", "zz.addr.consul", "A", 1232, "udp"),
    ("apex_soa", "consul", "SOA", 1232, "udp"),
    ("apex_ns", "consul", "NS", 1232, "udp"),
    ("apex_nodata", "consul", "A", 1232, "udp"),
    ("ptr_v4", "2.0.0.10.in-addr.arpa", "PTR", 1232, "udp"),
    ("ptr_v6", "6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR", 1232, "udp"),
    ("ptr_unknown_nx", "9.9.9.10.in-addr.arpa", "PTR", 1232, "udp"),
    ("outside_refused", "example.com", "A", 1232, "udp"),
    ("query_kind_nx", "foo.query.consul", "A", 1232, "udp"),
    ("edns_small_echo", "web.service.consul", "A", 600, "udp"),
    ("edns_ecs_echo", "web.service.consul", "A", 1232, "udp"),
]

# Cases whose query carries EDNS options.
OPTIONS = {
    "edns_ecs_echo": [dns.edns.ECSOption("198.51.100.0", 24)],
}


def malformed():
    """Raw packets the parser must refuse: (name, bytes, transport)."""
    hdr = lambda qd, an=0, ns=0, ar=0, flags=0x0100: (
        b"\x12\x34" + flags.to_bytes(2, "big") + qd.to_bytes(2, "big")
        + an.to_bytes(2, "big") + ns.to_bytes(2, "big") + ar.to_bytes(2, "big"))
    q = b"\x03web\x07service\x06consul\x00\x00\x01\x00\x01"
    return [
        ("bad_short_header", b"\x12\x34\x01\x00\x00", "udp"),      # dropped
        ("bad_response_bit", hdr(1, flags=0x8100) + q, "udp"),    # dropped
        ("bad_truncated_question", hdr(1) + q[:9], "udp"),
        ("bad_compression_loop", hdr(1) + b"\xc0\x0c\x00\x01\x00\x01", "udp"),
        ("bad_forward_pointer", hdr(1) + b"\xc0\x20\x00\x01\x00\x01" + b"\0" * 32, "udp"),
        ("bad_label_64", hdr(1) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", "udp"),
        ("bad_name_too_long", hdr(1) + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01", "udp"),
        ("bad_two_questions", hdr(2) + q + q, "udp"),
        ("bad_no_question", hdr(0), "udp"),
        ("bad_count_overrun", hdr(1, ar=3) + q, "udp"),
        ("bad_opcode_notimp", hdr(1, flags=0x2100) + q, "udp"),
        ("bad_edns_version", hdr(1, ar=1) + q + b"\x00\x00\x29\x04\xd0\x00\x01\x00\x00\x00\x00", "udp"),
        ("bad_two_opts", hdr(1, ar=2) + q + (b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00") * 2, "udp"),
        ("bad_class_chaos", hdr(1) + q[:-2] + b"\x00\x03", "udp"),
        # ECS claiming a /24 with 2 address bytes (needs 3).
        ("bad_ecs_length", hdr(1, ar=1) + q + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x0a"
         + b"\x00\x08\x00\x06\x00\x01\x18\x00\xc6\x33", "udp"),
    ]


def requests():
    os.makedirs(CASES, exist_ok=True)
    manifest = []
    for name, qname, qtype, edns, transport in QUERIES:
        m = dns.message.make_query(qname, qtype, use_edns=(edns is not None),
                                   payload=edns or 512,
                                   options=OPTIONS.get(name))
        m.id = 0x1234
        with open(os.path.join(CASES, name + ".req"), "wb") as f:
            f.write(m.to_wire())
        manifest.append(f"{name} {transport}")
    for name, raw, transport in malformed():
        with open(os.path.join(CASES, name + ".req"), "wb") as f:
            f.write(raw)
        manifest.append(f"{name} {transport}")
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


def check():
    bad = 0
    for line in open(os.path.join(HERE, "cases.txt")):
        name, transport = line.split()
        req = open(os.path.join(CASES, name + ".req"), "rb").read()
        path = os.path.join(CASES, name + ".resp")
        resp = open(path, "rb").read() if os.path.exists(path) else b""
        out = os.path.join(CASES, name + ".txt")
        if not resp:
            text = "(no response: dropped)\n"
        else:
            m = dns.message.from_wire(resp)
            text = m.to_text() + "\n"
            # Invariants every response must hold.
            problems = []
            if m.id != 0x1234:
                problems.append("id not echoed")
            if not m.flags & dns.flags.QR:
                problems.append("QR not set")
            if transport == "udp" and len(resp) > max(512, _edns(req)):
                problems.append("UDP response larger than allowed")
            if name.endswith("_tc") and not m.flags & dns.flags.TC:
                problems.append("expected TC")
            if name.endswith("_nx") and m.rcode() != dns.rcode.NXDOMAIN:
                problems.append("expected NXDOMAIN")
            if (name.endswith("_nx") or "nodata" in name) and not any(
                    r.rdtype == dns.rdatatype.SOA for r in m.authority):
                problems.append("negative answer without SOA")
            if name.endswith("_refused") and m.rcode() != dns.rcode.REFUSED:
                problems.append("expected REFUSED")
            if name.startswith("bad_") and m.rcode() == dns.rcode.NOERROR:
                problems.append("malformed query answered NOERROR")
            for p in problems:
                print(f"{name}: {p}")
                bad += 1
        with open(out, "w") as f:
            f.write(text)
    print("check: %s" % ("ok" if bad == 0 else f"{bad} problems"))
    return bad == 0


def _edns(req):
    try:
        m = dns.message.from_wire(req)
        return m.payload if m.edns >= 0 else 512
    except Exception:
        return 512


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("requests", "check"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "requests":
        requests()
    else:
        sys.exit(0 if check() else 1)
