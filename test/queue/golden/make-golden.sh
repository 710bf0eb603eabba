#!/bin/sh
# make-golden.sh - regenerate the postcat/postqueue golden outputs from REAL Postfix 3.7
# (the oracle). Not run by the tests. Usage: sh make-golden.sh /path/to/oracle/etc
# The queue files under files/ were written by a real Postfix 3.7.11 instance
# (crafted-pointers was made by hand to exercise pointer records and damaged size records).
set -e
ETC=${1:?oracle config directory}
cd "$(dirname "$0")"
mkdir -p postcat postqueue
for f in files/*; do
  case "$f" in *.defer) continue;; esac
  b=$(basename "$f")
  for flags in none -e -h -b -hb -o "-d -o" -v "-v -r" "-s 97"; do
    name=$(echo "$flags" | tr -d ' ')
    [ "$b.$name" = crafted-pointers.-e ] && continue  # loops 10000 times in Postfix 3.7 (see crafted-pointers notes)
    opt=$flags; [ "$flags" = none ] && opt=
    TZ=UTC postcat -c "$ETC" $opt "$f" > "postcat/$b.$name.out" 2> "postcat/$b.$name.err.raw" || true
    grep -v 'name_mask\|inet_addr_local' "postcat/$b.$name.err.raw" > "postcat/$b.$name.err" || true
    rm -f "postcat/$b.$name.err.raw"
  done
done

# mailq / postqueue -j: build the queues listed in mailq-layout.txt and let the
# real postqueue read them directly (mail system down, run as root).
for cfg in short long; do
  T=$(mktemp -d); mkdir -p $T/etc $T/spool
  for q in maildrop active incoming deferred hold defer bounce trace flush saved corrupt; do mkdir -p $T/spool/$q; done
  long=no; [ $cfg = long ] && long=yes
  printf 'queue_directory = %s/spool\nenable_long_queue_ids = %s\ncompatibility_level = 3.6\n' $T $long > $T/etc/main.cf
  grep -v '^#' mailq-layout.txt | while read src dst mode c; do
    [ "$c" = $cfg ] || continue
    mkdir -p $T/spool/$(dirname $dst); cp files/$src $T/spool/$dst; chmod $mode $T/spool/$dst
  done
  chown -R postfix $T/spool  # showq reads the queue as mail_owner
  TZ=UTC postqueue -c $T/etc -p > postqueue/mailq-$cfg.out 2> postqueue/mailq-$cfg.err || true
  TZ=UTC postqueue -c $T/etc -j > postqueue/json-$cfg.out 2> postqueue/json-$cfg.err || true
  rm -rf $T
done

# The raw mail_queue_list_protocol bytes that the real showq sends for the short layout.
T=$(mktemp -d); mkdir -p $T/etc $T/spool
for q in maildrop active incoming deferred hold defer bounce trace flush saved corrupt; do mkdir -p $T/spool/$q; done
printf 'queue_directory = %s/spool\ncompatibility_level = 3.6\n' $T > $T/etc/main.cf
grep -v '^#' mailq-layout.txt | while read src dst mode c; do
  [ "$c" = short ] || continue
  mkdir -p $T/spool/$(dirname $dst); cp files/$src $T/spool/$dst; chmod $mode $T/spool/$dst
done
chown -R postfix $T/spool
MAIL_CONFIG=$T/etc $(postconf -c "$ETC" -h daemon_directory)/showq -u -S < /dev/null > postqueue/showq-short.bin
rm -rf $T
