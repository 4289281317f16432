"""A fake ipvsadm for the ipvs checker where the kernel has no IPVS (this machine's has none):
one virtual server kept in a file, as the unit tests and ``bench.ipvs_checker_cut`` read it."""

from __future__ import annotations

from pathlib import Path

NO_OP = "#!/bin/sh\n"  # a command that does nothing (ip: no dummy interfaces in this kernel)

FAKE_IPVSADM = r"""#!/bin/bash
# A fake ipvsadm: one virtual server kept in $FAKE/table (first line: scheduler, then
# "server weight" lines).
T=$FAKE/table
case "$1" in
-Ln)
  [ -e "$T" ] || exit 1
  echo "IP Virtual Server version 1.2.1 (size=4096)"
  echo "Prot LocalAddress:Port Scheduler Flags"
  echo "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
  echo "TCP  $3 $(head -1 "$T")"
  tail -n +2 "$T" | while read -r rs w; do echo "  -> $rs              Masq    $w      0          0"; done ;;
-A) echo "$5" > "$T" ;;
-E) sed -i "1s/.*/$5/" "$T" ;;
-D) rm -f "$T" ;;
-a) echo "$5 $8" >> "$T" ;;
-e) awk -v rs="$5" -v w="$8" 'NR > 1 && $1 == rs { $2 = w } { print }' "$T" > "$T.new"; mv "$T.new" "$T" ;;
-d) awk -v rs="$5" 'NR == 1 || $1 != rs' "$T" > "$T.new"; mv "$T.new" "$T" ;;
-Lnc)
  echo "IPVS connection entries"
  echo "pro expire state       source             virtual            destination"
  cat "$FAKE/conns" 2>/dev/null ;;
esac
"""


def install(bin_dir: Path, scripts: dict[str, str]) -> None:
    """Each fake (name -> script) written into ``bin_dir`` (made if needed), executable."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
