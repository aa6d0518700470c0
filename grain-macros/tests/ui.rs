//! Compile-pass and compile-fail tests of `#[grain]`: each error must point at the user's token.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
