//! Fuzzes the Ogg Opus reader: any bytes give a stream or a typed error, never a panic;
//! whatever parses re-writes and parses back to the same header and packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_codecs::file::ogg_opus;

fuzz_target!(|data: &[u8]| {
    if let Ok(stream) = ogg_opus::parse(data) {
        let bytes = ogg_opus::to_bytes(&stream.head, &stream.packets, 0, 1)
            .expect("packets the reader accepted have valid TOCs");
        let again = ogg_opus::parse(&bytes).expect("the writer's output parses");
        assert_eq!(again.head, stream.head);
        assert_eq!(again.packets, stream.packets);
    }
});
