"""Bad host input gets a clear message and exit status 2; garbage guest code gets #UD and
unhandled faults end in a reported triple fault; nothing crashes."""

import random
import struct

import pytest

import hvsim

MB_MAGIC = 0x1BADB002


def mb_header(flags, *addrs):
    return struct.pack("<III", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xFFFFFFFF) + \
        struct.pack("<%dI" % len(addrs), *addrs)


def elf32(machine=3, paddr=0x100000, body=b"\xf4", memsz=None):
    """A minimal ELF32 executable with one PT_LOAD segment starting with a Multiboot header."""
    data = mb_header(3) + body
    ehsize, phsize = 52, 32
    off = ehsize + phsize
    eh = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9) + struct.pack(
        "<HHIIIIIHHHHHH", 2, machine, 1, paddr + 12, ehsize, 0, 0, ehsize, phsize, 1, 0, 0, 0)
    ph = struct.pack("<IIIIIIII", 1, off, paddr, paddr, len(data), memsz or len(data), 7, 4096)
    return eh + ph + data


def aout_kernel(code, load=0x100000):
    """A raw Multiboot kernel (a.out-kludge address fields) whose entry runs `code`."""
    header = mb_header(0x10003, load, load, 0, 0, load + 32)
    return header + bytes(32 - len(header)) + code


def expect_bad(p, *words):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, (w, p.stderr)


def test_missing_kernel(cli, tmp_path):
    expect_bad(cli("run", "--kernel", tmp_path / "nope.elf"), "nope.elf", "does not exist")


def test_not_elf(cli, tmp_path):
    k = tmp_path / "notes.txt"
    k.write_text("just some text, no kernel here\n")
    expect_bad(cli("run", "--kernel", k), "notes.txt", "not an ELF")


def test_wrong_machine(cli, tmp_path):
    k = tmp_path / "arm.elf"
    k.write_bytes(elf32(machine=40))
    expect_bad(cli("run", "--kernel", k), "arm.elf", "ARM")


def test_segment_outside_ram(cli, tmp_path):
    k = tmp_path / "far.elf"
    k.write_bytes(elf32(paddr=0x2000000))
    expect_bad(cli("run", "--kernel", k, "--memory", "16M"), "far.elf", "outside RAM")


def test_bss_outside_ram(cli, tmp_path):
    k = tmp_path / "bigbss.elf"
    k.write_bytes(elf32(memsz=64 << 20))
    expect_bad(cli("run", "--kernel", k, "--memory", "32M"), "bigbss.elf", "outside RAM")


@pytest.mark.parametrize("size", ["12X", "lots", "0", "-1G", "1.5G"])
def test_bad_size_string(cli, guest, size):
    expect_bad(cli("run", "--kernel", guest("hello"), "--memory=" + size), "memory size", size)


def test_missing_module(cli, guest, tmp_path):
    expect_bad(cli("run", "--kernel", guest("hello"), "--module", tmp_path / "gone"),
               "module", "gone")


def test_bad_counts_and_checkpoints(cli, guest, tmp_path):
    expect_bad(cli("run", "--kernel", guest("hello"), "--smp", "0"), "positive")
    expect_bad(cli("run", "--kernel", guest("hello"), "--max-insns", "many"), "instruction count")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"definitely not a checkpoint")
    expect_bad(cli("run", "--restore", junk), "junk.ckpt", "not an hvsim checkpoint")
    expect_bad(cli("run", "--kernel", guest("hello"), "--stats", tmp_path / "no/such/dir/s.json"),
               "s.json")


def test_api_raises_input_error(tmp_path):
    with pytest.raises(hvsim.InputError, match="memory size"):
        hvsim.Machine(memory="12X")
    m = hvsim.Machine()
    with pytest.raises(hvsim.InputError, match="does not exist"):
        m.load_kernel(tmp_path / "missing.elf")


def test_garbage_code_gets_ud_then_triple_fault(cli, tmp_path):
    k = tmp_path / "garbage.bin"
    k.write_bytes(aout_kernel(b"\x0f\xff\xff\xff"))  # UD0: invalid opcode, and no IDT
    p = cli("run", "--kernel", k)
    assert p.returncode == 4, (p.returncode, p.stderr)
    assert "triple fault" in p.stderr and "0x100020" in p.stderr, p.stderr
    m = hvsim.Machine()
    m.load_kernel(k)
    stop = m.run()
    assert stop.kind == "triple_fault" and stop.rip == 0x100020
    assert "#UD" in str(m.inspect()["cpu0"])


def test_random_garbage_never_crashes(tmp_path):
    rng = random.Random(1234)
    kinds = set()
    for i in range(60):
        code = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 256)))
        k = tmp_path / ("g%d.bin" % i)
        k.write_bytes(aout_kernel(code))
        m = hvsim.Machine(memory="16M")
        m.load_kernel(k)
        stop = m.run(max_instructions=200_000)
        kinds.add(stop.kind)
        assert stop.kind in ("triple_fault", "halted", "instruction_limit", "debug_exit",
                             "time_limit"), stop
    assert "triple_fault" in kinds


def test_output_paths_checked_before_running(cli, guest, tmp_path):
    serial = tmp_path / "serial.txt"
    serial.write_text("keep me")
    p = cli("run", "--kernel", tmp_path / "missing.elf", "--serial", serial)
    assert p.returncode == 2
    assert serial.read_text() == "keep me"  # bad input truncated nothing
    p = cli("run", "--kernel", guest("hello"), "--trace", tmp_path / "nodir" / "t.json")
    assert p.returncode == 2 and "does not exist" in p.stderr and p.stdout == ""
