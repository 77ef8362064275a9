//! Behaviour of the media runtime's sessions, each module one behaviour, driven in virtual time
//! on the loopback network (manual-tick mode) unless its name says otherwise. One binary, so
//! the codecs link once.

#![allow(missing_docs)]

#[path = "sessions/support.rs"]
mod support;

#[path = "sessions/a_digit_whose_end_is_lost_is_reported_after_the_timeout.rs"]
mod a_digit_whose_end_is_lost_is_reported_after_the_timeout;
#[path = "sessions/a_reply_nobody_waits_for_is_undone.rs"]
mod a_reply_nobody_waits_for_is_undone;
#[path = "sessions/an_asymmetric_peer_is_sent_to_its_signalled_address.rs"]
mod an_asymmetric_peer_is_sent_to_its_signalled_address;
#[path = "sessions/commands_do_not_wait_for_a_tick.rs"]
mod commands_do_not_wait_for_a_tick;
#[path = "sessions/conference_leave_closes_the_leg_and_reports_it.rs"]
mod conference_leave_closes_the_leg_and_reports_it;
#[path = "sessions/conference_legs_hear_the_others_not_themselves.rs"]
mod conference_legs_hear_the_others_not_themselves;
#[path = "sessions/conference_rooms_built_together_send_on_different_ticks.rs"]
mod conference_rooms_built_together_send_on_different_ticks;
#[path = "sessions/dtmf_conversion_yields_each_digit_once.rs"]
mod dtmf_conversion_yields_each_digit_once;
#[path = "sessions/echo_returns_what_was_sent.rs"]
mod echo_returns_what_was_sent;
#[path = "sessions/full_command_queue_returns_an_error.rs"]
mod full_command_queue_returns_an_error;
#[path = "sessions/leg_controls_stop_media_where_they_should.rs"]
mod leg_controls_stop_media_where_they_should;
#[path = "sessions/legs_send_rtcp_reports_and_measure_round_trip_time.rs"]
mod legs_send_rtcp_reports_and_measure_round_trip_time;
#[path = "sessions/media_timeout_is_reported_once_until_media_resumes.rs"]
mod media_timeout_is_reported_once_until_media_resumes;
#[path = "sessions/packets_take_their_kernel_arrival_time_not_the_ticks.rs"]
mod packets_take_their_kernel_arrival_time_not_the_ticks;
#[path = "sessions/play_delivers_the_wav.rs"]
mod play_delivers_the_wav;
#[path = "sessions/quality_samples_of_a_decoding_leg_count_what_its_jitter_buffer_lost.rs"]
mod quality_samples_of_a_decoding_leg_count_what_its_jitter_buffer_lost;
#[path = "sessions/relay_passes_payloads_unchanged_and_rewrites_headers.rs"]
mod relay_passes_payloads_unchanged_and_rewrites_headers;
#[path = "sessions/replace_continues_each_legs_stream.rs"]
mod replace_continues_each_legs_stream;
#[path = "sessions/rtp_bleed_packets_after_lock_are_dropped_and_counted.rs"]
mod rtp_bleed_packets_after_lock_are_dropped_and_counted;
#[path = "sessions/runtime_threads_relay_over_loopback.rs"]
mod runtime_threads_relay_over_loopback;
#[path = "sessions/transcode_opus_leg_uses_its_encoder_settings.rs"]
mod transcode_opus_leg_uses_its_encoder_settings;
#[path = "sessions/transcode_pcmu_opus_carries_a_tone.rs"]
mod transcode_pcmu_opus_carries_a_tone;
#[path = "sessions/worker_totals_count_what_decoding_legs_played_and_lost.rs"]
mod worker_totals_count_what_decoding_legs_played_and_lost;
