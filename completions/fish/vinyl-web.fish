complete -c vinyl-web -l listen -d 'The address and port to serve on; 0.0.0.0:8080 to serve the local network' -r
complete -c vinyl-web -l token-file -d 'The file holding the control token (one line). Without it, control endpoints answer 401 [default: $VINYL_WEB_TOKEN_FILE, else /etc/vinyl/web-token for root, else ~/.config/vinyl/web-token]' -r -F
complete -c vinyl-web -l events -d 'The listener\'s events file (JSON lines), followed from its end [default: $VINYL_EVENTS, or RUN/events]' -r -F
complete -c vinyl-web -l ring -d 'The ring [default: $VINYL_RING, or /dev/shm/vinyl-ring]' -r -F
complete -c vinyl-web -l recordings -d 'The recordings folder [default: $VINYL_RECORDINGS, or ~/recordings]' -r -F
complete -c vinyl-web -l max-clients -d 'Requests being read at once; when all are taken, the slowest one past 1 s makes room, else the newcomer is answered 503 and closed' -r
complete -c vinyl-web -l max-streams -d 'Streams (/events and /listen) at once, apart from the requests; more are answered 503' -r
complete -c vinyl-web -l max-streams-per-address -d 'Streams from one address other than loopback (a reverse proxy on this machine is exempt)' -r
complete -c vinyl-web -l allow-host -d 'A name (besides IP literals, this machine\'s host name and NAME.local) that requests may give as their Host when bound to a non-loopback address (repeatable; also VINYL_WEB_ALLOW_HOSTS, blank-separated)' -r
complete -c vinyl-web -l request-timeout -d 'Seconds a client has to send its whole request (headers and body); slower ones are closed' -r
complete -c vinyl-web -l mp3-url -d 'The MP3 stream\'s Icecast URL, offered in the page\'s Listen menu (listeners open the source URL; empty: not offered). The page fetches it, so the server must send Access-Control-Allow-Origin, as Debian\'s icecast.xml does; else it plays seconds later' -r
complete -c vinyl-web -l ogg-flac-url -d 'The Ogg FLAC mount\'s URL, offered in the Listen menu (empty: not offered)' -r
complete -c vinyl-web -l opus-url -d 'The Ogg Opus mount\'s URL, offered in the Listen menu (empty: not offered)' -r
complete -c vinyl-web -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-web -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-web -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-web -l make-token -d 'Create the token file (--token-file or its default) when it is missing or empty: 32 random bytes as hex, mode 0600, its folder made 0700; print its path on stdout and exit. The one maker of the token, for vinyl-up and the unit; the token itself is never printed'
complete -c vinyl-web -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-web -s V -l version -d 'Print version'
