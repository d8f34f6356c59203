complete -c vinyl-mp3-icecast -l url -d 'Icecast server and mount, http://HOST:PORT/MOUNT (without a port, 8000). Never put credentials in it: the command line is visible to every user' -r
complete -c vinyl-mp3-icecast -s o -l output -d 'Write the MP3 to FILE (\'-\' for stdout) instead of streaming; nothing is dropped, and the file is created with mode 0600. A regular file (also stdout redirected to one, not appending) starts with LAME\'s Xing/Info tag frame, written at the end: players then know the exact duration, seek in VBR and play gapless; a pipe gets no tag, like a stream' -r -F
complete -c vinyl-mp3-icecast -l user -d 'Source user name' -r
complete -c vinyl-mp3-icecast -l password-file -d 'File holding the source password, one line (keep it mode 0600) [default: none: the password comes from the VINYL_ICECAST_PASSWORD environment variable]' -r -F
complete -c vinyl-mp3-icecast -l name -d 'Stream name shown to listeners (ice-name) [default: none]' -r
complete -c vinyl-mp3-icecast -l description -d 'Stream description (ice-description) [default: none]' -r
complete -c vinyl-mp3-icecast -l metadata-fifo -d 'FIFO whose lines become the stream title, UTF-8, one title a line; a line repeating the title is not sent again (created with mode 0600 when missing) [default: none]' -r -F
complete -c vinyl-mp3-icecast -l timeout -d 'Bound on each network step: connect, each read, each write (a server that takes no data for this long is dropped and reconnected)' -r
complete -c vinyl-mp3-icecast -l retry-max -d 'Longest wait between reconnection attempts; the wait starts at 0.5s and doubles, with jitter, up to this' -r
complete -c vinyl-mp3-icecast -l queue -d 'Audio held for a server that is slow to take it, beyond which whole MP3 frames or Ogg pages are dropped and counted' -r
complete -c vinyl-mp3-icecast -l bitrate -d 'Constant bitrate in kbit/s (32..320 at 32-48 kHz, 8..160 below)' -r
complete -c vinyl-mp3-icecast -l vbr -d 'Variable bitrate instead of CBR, quality 0 (best, ~245 kbit/s) to 9 (smallest), like lame -V [default: off, CBR]' -r
complete -c vinyl-mp3-icecast -l quality -d 'LAME algorithm quality, 0 (slowest) to 9 (fastest); 3 is LAME\'s default, 2 is lame -h' -r
complete -c vinyl-mp3-icecast -l genre -d 'Genre (ice-genre) [default: none]' -r
complete -c vinyl-mp3-icecast -l homepage -d 'Web page about the stream (ice-url) [default: none]' -r
complete -c vinyl-mp3-icecast -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-mp3-icecast -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-mp3-icecast -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-mp3-icecast -l public -d 'Ask the server to list the stream in public directories (ice-public: 1) [default: private]'
complete -c vinyl-mp3-icecast -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-mp3-icecast -s V -l version -d 'Print version'
