# Sourced by the benchmarks: a SQLite app database (app.db in the current folder) and the
# changes made to it between snapshots.
#   make_db ROWS            ROWS items (1,000,000 is ~85 MB)
#   change WORKLOAD STEP    "recent": 5,000 new rows and 3,000 updates of the newest rows;
#                           "scattered": updates of 1 % of the rows, uniformly spread
#   measure NAME CMD...     times CMD with /usr/bin/time; summary NAME prints the median and spread
make_db() {
  python3 - "$1" <<'PY'
import random, sqlite3, sys
rows = int(sys.argv[1])
random.seed(1)
db = sqlite3.connect("app.db")
db.executescript("""CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('a1b2c3d4e5f6');
CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, amount INTEGER, note TEXT);""")
db.executemany("INSERT INTO item VALUES (?,?,?,?,?)",
               ((i, "item-%07d" % i, random.choice(["new", "open", "paid", "shipped"]), random.randrange(10**6),
                 "note %x" % random.getrandbits(64)) for i in range(1, rows + 1)))
db.commit()
PY
}

change() {
  python3 - "$1" "$2" <<'PY'
import random, sqlite3, sys
workload, step = sys.argv[1], int(sys.argv[2])
random.seed(100 + step)
db = sqlite3.connect("app.db")
top = db.execute("SELECT max(id) FROM item").fetchone()[0]
if workload == "recent":
    db.executemany("INSERT INTO item VALUES (?,?,?,?,?)",
                   ((i, "item-%07d" % i, "new", random.randrange(10**6), "note %x" % random.getrandbits(64))
                    for i in range(top + 1, top + 5001)))
    ids = random.sample(range(top - 20000, top + 1), 3000)
else:
    ids = random.sample(range(1, top + 1), top // 100)
db.executemany("UPDATE item SET status = ?, amount = ? WHERE id = ?",
               ((random.choice(["open", "paid", "shipped"]), random.randrange(10**6), i) for i in ids))
db.commit()
PY
}

# measure NAME CMD...: runs CMD (stdout to /dev/null), appends "seconds rss_kb" to NAME.times
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$name.one" "$@" >/dev/null
  cat "$name.one" >> "$name.times"
}
# summary NAME: "median (min-max) s, peak RSS median (max)" of NAME.times
summary() {
  python3 - "$1.times" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
t = [r[0] for r in rows]; m = [r[1] / 1024 for r in rows]
print("%.2f s (%.2f-%.2f), peak RSS %.0f MB (max %.0f)" % (statistics.median(t), min(t), max(t),
                                                           statistics.median(m), max(m)))
PY
}
