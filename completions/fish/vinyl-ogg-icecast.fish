complete -c vinyl-ogg-icecast -l codec -d 'The codec of the Ogg stream' -r -f -a "flac\t'FLAC in Ogg (mapping 1.0): lossless, bit-exact to the input'
opus\t'Opus in Ogg (RFC 7845): 48 kHz, --bitrate'"
complete -c vinyl-ogg-icecast -l url -d 'Icecast server and mount, http://HOST:PORT/MOUNT (without a port, 8000). Never put credentials in it: the command line is visible to every user [default: the VINYL_OGG_FLAC_URL environment variable for --codec flac, VINYL_OPUS_URL for --codec opus]' -r
complete -c vinyl-ogg-icecast -l user -d 'Source user name' -r
complete -c vinyl-ogg-icecast -l password-file -d 'File holding the source password, one line (keep it mode 0600) [default: none: the password comes from the VINYL_ICECAST_PASSWORD environment variable]' -r -F
complete -c vinyl-ogg-icecast -l name -d 'Stream name shown to listeners (ice-name) [default: none]' -r
complete -c vinyl-ogg-icecast -l description -d 'Stream description (ice-description) [default: none]' -r
complete -c vinyl-ogg-icecast -l metadata-fifo -d 'FIFO whose lines become the stream title, UTF-8, one title a line; a line repeating the title is not sent again (created with mode 0600 when missing) [default: none]' -r -F
complete -c vinyl-ogg-icecast -l timeout -d 'Bound on each network step: connect, each read, each write (a server that takes no data for this long is dropped and reconnected)' -r
complete -c vinyl-ogg-icecast -l retry-max -d 'Longest wait between reconnection attempts; the wait starts at 0.5s and doubles, with jitter, up to this' -r
complete -c vinyl-ogg-icecast -l queue -d 'Audio held for a server that is slow to take it, beyond which whole MP3 frames or Ogg pages are dropped and counted' -r
complete -c vinyl-ogg-icecast -l bitrate -d 'Opus bitrate in kbit/s for all channels (6..510); FLAC ignores it' -r
complete -c vinyl-ogg-icecast -l complexity -d 'Opus encoder complexity (0..10): 9 is libopus\'s own default, 10 (opusenc\'s) the best quality; lower costs less CPU; FLAC ignores it' -r
complete -c vinyl-ogg-icecast -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-ogg-icecast -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-ogg-icecast -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-ogg-icecast -l public -d 'Ask the server to list the stream in public directories (ice-public: 1) [default: private]'
complete -c vinyl-ogg-icecast -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-ogg-icecast -s V -l version -d 'Print version'
