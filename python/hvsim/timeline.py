"""`hvsim timeline TRACE`: the records of one category of a trace (`hvsim run --trace`,
`Machine.trace`), one line each in simulated-time order: by default the VMBus channel
messages (docs/vmbus.md "Observability") with their direction and fields.

Reads both trace formats: JSON lines (one record per line: t_ps, track, cat, name, args)
and Chrome trace-event JSON (traceEvents with ts in microseconds; track names from the
thread_name metadata records)."""

import json

from .machine import InputError


def _records(path):
    """(time_ps, track, category, name, args) of every instant record of the trace."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError("timeline: cannot read trace %s: %s" % (path, e.strerror))
    stripped = text.lstrip()
    try:
        if stripped.startswith("{\"traceEvents\"") or stripped.startswith("["):
            data = json.loads(text)
            events = data["traceEvents"] if isinstance(data, dict) else data
            tracks = {e.get("tid"): e["args"]["name"] for e in events
                      if e.get("ph") == "M" and e.get("name") == "thread_name"}
            return [(round(e["ts"] * 1_000_000), tracks.get(e.get("tid"), str(e.get("tid"))),
                     e.get("cat", ""), e["name"], e.get("args", {}))
                    for e in events if e.get("ph") != "M" and "ts" in e]
        return [(r["t_ps"], r.get("track", ""), r.get("cat", ""), r["name"], r.get("args", {}))
                for r in (json.loads(line) for line in text.splitlines() if line.strip())]
    except (ValueError, KeyError, TypeError) as e:
        raise InputError("timeline: %s is not an hvsim trace (%s)" % (path, e))


def lines(path, category="vmbus", track=None):
    """The timeline as text lines: time in µs, track, direction, name, other fields."""
    recs = [r for r in _records(path) if r[2] == category and (track is None or r[1] == track)]
    recs.sort(key=lambda r: r[0])  # stable: records of one instant keep their trace order
    out = ["%12s  %-16s %-4s %-22s %s" % ("time (us)", "track", "dir", "event", "fields")]
    for t, trk, _, name, args in recs:
        fields = " ".join("%s=%s" % (k, v) for k, v in args.items() if k not in ("dir", "type"))
        out.append("%12.3f  %-16s %-4s %-22s %s"
                   % (t / 1e6, trk, args.get("dir", ""), name, fields))
    return out


def main(args):
    text = lines(args.trace, args.category, args.track)
    for line in text:
        print(line)
    if len(text) == 1:
        print("(no %s records in %s)" % (args.category, args.trace))
    return 0
