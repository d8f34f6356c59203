complete -c vinyl-mqtt -l url -d 'The broker, mqtt://HOST:PORT (without a port, 1883; no TLS, no credentials in it)' -r
complete -c vinyl-mqtt -l username -d 'The user name to log in with [default: none: an anonymous login]' -r
complete -c vinyl-mqtt -l password-file -d 'The file holding the password, one line (keep it mode 0600) [default: none]' -r -F
complete -c vinyl-mqtt -l prefix -d 'The topics\' prefix; refused when it holds +, #, NUL or a control character, or starts with $' -r
complete -c vinyl-mqtt -l discovery-prefix -d 'Home Assistant\'s discovery prefix' -r
complete -c vinyl-mqtt -l web-url -d 'vinyl-web\'s address as Home Assistant reaches it, for the covers\' URLs (URL/cover/ID) [default: http://VINYL_WEB_LISTEN, vinyl-web\'s own address]' -r
complete -c vinyl-mqtt -l level-interval -d 'Seconds between two level messages at least' -r
complete -c vinyl-mqtt -l events -d 'The listener\'s events file (JSON lines), followed from its end [default: $VINYL_EVENTS, or RUN/events]' -r -F
complete -c vinyl-mqtt -l ring -d 'The ring [default: $VINYL_RING, or /dev/shm/vinyl-ring]' -r -F
complete -c vinyl-mqtt -l recordings -d 'The recordings folder [default: $VINYL_RECORDINGS, or ~/recordings]' -r -F
complete -c vinyl-mqtt -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-mqtt -s V -l version -d 'Print version'
