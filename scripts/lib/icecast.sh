# shellcheck shell=sh
# A private icecast2 server on 127.0.0.1 for the demo and the benchmarks (sourced, not run).
#
#   icecast_start DIR PORT PASSWORD   writes DIR/icecast.xml, starts icecast2, waits until it answers
#   icecast_stop DIR                  stops the server started in DIR
#
# icecast2 refuses to run as root unless it changes owner to the icecast2 user, which must be able
# to reach its log folder: DIR and the folders above it are made searchable (0711) for that reason.
# Like Debian's default icecast.xml it allows every origin (Access-Control-Allow-Origin: *): the
# page's player fetches the MP3 mount (src/web/mount.js).

icecast_start() {
    ic_dir=$1 ic_port=$2 ic_pass=$3
    mkdir -p "$ic_dir/log"
    chmod 0711 "$ic_dir"
    chmod 0777 "$ic_dir/log"
    ic_d=$ic_dir
    while [ "$ic_d" != "/" ] && [ -n "$ic_d" ]; do
        chmod o+x "$ic_d" 2>/dev/null || true
        ic_d=$(dirname "$ic_d")
    done
    ic_owner=""
    if [ "$(id -u)" -eq 0 ]; then
        ic_owner="<security><chroot>0</chroot><changeowner><user>icecast2</user><group>icecast</group></changeowner></security>"
    fi
    cat > "$ic_dir/icecast.xml" <<XML
<icecast>
  <location>vinyl</location><admin>vinyl@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>100</clients><sources>4</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout><source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>65535</burst-size></limits>
  <authentication><source-password>$ic_pass</source-password><admin-user>admin</admin-user>
    <admin-password>$ic_pass</admin-password></authentication>
  <listen-socket><port>$ic_port</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>$ic_dir/log</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  $ic_owner
  <http-headers><header name="Access-Control-Allow-Origin" value="*" /></http-headers>
  <mount type="default"><charset>UTF-8</charset></mount>
</icecast>
XML
    chmod 0644 "$ic_dir/icecast.xml"
    icecast2 -c "$ic_dir/icecast.xml" > "$ic_dir/log/stdout.log" 2>&1 &
    echo $! > "$ic_dir/icecast.pid"
    ic_tries=0
    # Ready means its stats are filled in (server_id listed), not just a bound port: icecast2
    # 2.4.4 can crash on a request that arrives in its first moments.
    until curl -fs "http://127.0.0.1:$ic_port/status-json.xsl" 2>/dev/null | grep -q '"server_id"'; do
        ic_tries=$((ic_tries + 1))
        if [ "$ic_tries" -gt 100 ] || ! kill -0 "$(cat "$ic_dir/icecast.pid")" 2>/dev/null; then
            echo "icecast2: 127.0.0.1:$ic_port: did not come up; see $ic_dir/log" >&2
            cat "$ic_dir/log/stdout.log" "$ic_dir/log/error.log" >&2 2>/dev/null
            return 1
        fi
        sleep 0.1
    done
}

icecast_stop() {
    if [ -f "$1/icecast.pid" ]; then
        ic_pid=$(cat "$1/icecast.pid")
        kill "$ic_pid" 2>/dev/null || true
        ic_tries=0
        while kill -0 "$ic_pid" 2>/dev/null && [ "$ic_tries" -lt 50 ]; do
            ic_tries=$((ic_tries + 1))
            sleep 0.1
        done
        # Only a server still running gets SIGKILL: a gone one's pid may already be another's.
        if kill -0 "$ic_pid" 2>/dev/null; then
            kill -9 "$ic_pid" 2>/dev/null || true
        fi
        rm -f "$1/icecast.pid"
    fi
}

# Prints a free TCP port on 127.0.0.1 (asks the kernel through ss for one not in use).
free_port() {
    fp=$(( (($$ * 7919) % 20000) + 20000 ))
    while ss -Htln "sport = :$fp" | grep -q .; do
        fp=$((fp + 1))
    done
    echo "$fp"
}
