complete -c vinyl-snapcast-meta -l name -d 'The stream\'s name in Snapcast (with --source-line) [default: vinyl]' -r
complete -c vinyl-snapcast-meta -l events -d 'The listener\'s events file [default: $VINYL_EVENTS, or RUN/events]' -r -F
complete -c vinyl-snapcast-meta -l stream -d 'The stream\'s id, as snapserver passes it (logged)' -r
complete -c vinyl-snapcast-meta -l snapcast-port -d 'snapserver\'s HTTP port, as it passes it (unused: everything goes through stdin and stdout)' -r
complete -c vinyl-snapcast-meta -l source-line -d 'Print the snapserver.conf `source =` line for vinyl\'s ring and exit'
complete -c vinyl-snapcast-meta -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-snapcast-meta -s V -l version -d 'Print version'
