#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| payops_fuzz::check_esnekpos_answer(data));
