//! A valid component of another world (its `run` takes no input): weft must refuse it at
//! registration, naming the mismatch.

wit_bindgen::generate!({
    inline: "
        package other:thing;
        world greeter {
            export run: func() -> string;
        }
    ",
});

struct Greeter;

impl Guest for Greeter {
    fn run() -> String {
        "hello".into()
    }
}

export!(Greeter);
