complete -c vinyl-capture -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-capture -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-capture -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-capture -s D -l device -d 'ALSA capture device: hw:1,0, hw:CARD=CODEC,DEV=0, plughw:1,0 (lets ALSA convert), default…' -r
complete -c vinyl-capture -l period -d 'ALSA period in frames, the size of every read (1024 is 21.3 ms at 48 kHz)' -r
complete -c vinyl-capture -l buffer -d 'ALSA buffer in frames, at least 2 periods: how long the system may stall before audio is lost (16384 is 341 ms at 48 kHz)' -r
complete -c vinyl-capture -l duration -d 'Stop after exactly this much audio (30s, 1m30s, 250ms, or frames: 48000f), like `arecord -s`; default: capture until SIGTERM/SIGINT/SIGHUP' -r
complete -c vinyl-capture -l ring -d 'Write the capture into this shared-memory ring instead of stdout, as its one writer and the owner of its timeline: every lost frame is silence at its place, journaled. A ring of the same format and capacity whose writer is gone continues its timeline (e.g. /dev/shm/vinyl-ring)' -r -F
complete -c vinyl-capture -l ring-capacity -d 'History the ring guarantees with --ring, e.g. 30s, 30m (a whole LP side); more than 0 and at most 24h (the ring lives in memory) [default: 30s]' -r
complete -c vinyl-capture -l realtime -d 'Pace reads at the nominal rate against the monotonic clock, for devices that have no clock of their own (ALSA `file`, `null`), like `ffmpeg -re`; default off (the key takes yes or no)'
complete -c vinyl-capture -l list-devices -d 'List the ALSA PCM devices that can capture (names for --device) on stdout, and exit'
complete -c vinyl-capture -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-capture -s V -l version -d 'Print version'
