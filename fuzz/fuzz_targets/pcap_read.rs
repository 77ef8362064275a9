//! Fuzzes the libpcap reader and frame decoder: any bytes give records or a typed error,
//! never a panic, and every decoded UDP payload lies inside its record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_drivers::packet::pcap::{PcapReader, decode_udp};

fuzz_target!(|data: &[u8]| {
    if let Ok(reader) = PcapReader::new(data) {
        let link_type = reader.link_type();
        for record in reader {
            let Ok(record) = record else { break };
            if let Ok(datagram) = decode_udp(link_type, record.data) {
                assert!(datagram.payload.len() + 8 <= record.data.len());
            }
        }
    }
});
