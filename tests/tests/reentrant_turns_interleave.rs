//! `#[reentrant]` on a `&self` method, or `#[grain(reentrant)]` on the type, lets `&self` turns
//! interleave while they await; every other turn keeps the activation to itself, and an
//! exclusive call queued behind interleaved turns waits until they have all ended.

use std::time::Duration;

use grain_runtime::prelude::*;
use grain_tests::{Gate, Recorder, WAIT, eventually, silo};

/// A non-reentrant grain with some `#[reentrant]` methods.
#[grain]
pub struct Library {
    gate: Gate,
    log: Recorder,
    books: u64,
}

#[grain]
impl Library {
    /// Asks the librarian, who calls back into `read` while this turn waits.
    #[reentrant]
    pub async fn lookup(&self, ctx: &GrainContext<Self>) -> Result<u64, String> {
        ctx.grain::<Librarian>("l").fetch(ctx.this()).await.unwrap()
    }

    /// Asks the librarian, who calls back into the non-reentrant `count` while this turn waits.
    #[reentrant]
    pub async fn lookup_exclusive(&self, ctx: &GrainContext<Self>) -> Result<u64, String> {
        ctx.grain::<Librarian>("l")
            .fetch_count(ctx.this())
            .await
            .unwrap()
    }

    /// Asks the librarian, who calls back into `read` once its gate opens.
    #[reentrant]
    pub async fn lookup_later(&self, ctx: &GrainContext<Self>) -> Result<u64, String> {
        ctx.grain::<Librarian>("l")
            .fetch_later(ctx.this())
            .await
            .unwrap()
    }

    /// Asks the librarian, who tells `add_book` and then calls back into `read`.
    #[reentrant]
    pub async fn lookup_after_adding(&self, ctx: &GrainContext<Self>) -> Result<u64, String> {
        ctx.grain::<Librarian>("l")
            .add_then_fetch(ctx.this())
            .await
            .unwrap()
    }

    /// Adds a book.
    pub async fn add_book(&mut self) {
        self.books += 1;
    }

    /// The number of books, readable beside other reentrant turns.
    #[reentrant]
    pub async fn read(&self) -> u64 {
        self.books
    }

    /// The number of books, in a turn of its own.
    pub async fn count(&self) -> u64 {
        self.books
    }

    /// A reentrant turn held at the gate.
    #[reentrant]
    pub async fn hold(&self, name: String) {
        self.log.record(format!("start {name}"));
        self.gate.pass().await;
        self.log.record(format!("end {name}"));
    }

    /// A non-reentrant `&self` turn held at the gate.
    pub async fn hold_alone(&self, name: String) {
        self.log.record(format!("start {name}"));
        self.gate.pass().await;
        self.log.record(format!("end {name}"));
    }
}

/// Calls back into the library it is handed.
#[grain]
pub struct Librarian {
    gate: Gate,
}

#[grain]
impl Librarian {
    /// Waits at its gate, then asks `library.read`.
    pub async fn fetch_later(&self, library: VirtualActorRef<Library>) -> Result<u64, String> {
        self.gate.pass().await;
        library.read().await.map_err(|e| e.to_string())
    }

    /// Tells `library.add_book`, then asks `library.read` with a short deadline.
    pub async fn add_then_fetch(&self, library: VirtualActorRef<Library>) -> Result<u64, String> {
        library.tell().add_book().unwrap();
        library
            .read()
            .timeout(Duration::from_millis(200))
            .await
            .map_err(|e| e.to_string())
    }

    /// Asks `library.read`.
    pub async fn fetch(&self, library: VirtualActorRef<Library>) -> Result<u64, String> {
        library.read().await.map_err(|e| e.to_string())
    }

    /// Asks `board.value`.
    pub async fn fetch_board(&self, board: VirtualActorRef<Board>) -> Result<u64, String> {
        board.value().await.map_err(|e| e.to_string())
    }

    /// Asks `library.count`.
    pub async fn fetch_count(&self, library: VirtualActorRef<Library>) -> Result<u64, String> {
        library.count().await.map_err(|e| e.to_string())
    }
}

/// A grain whose `&self` methods all interleave.
#[grain(reentrant)]
pub struct Board {
    gate: Gate,
    log: Recorder,
    value: u64,
}

#[grain]
impl Board {
    /// Held at the gate; interleaves because the type is reentrant.
    pub async fn hold(&self, name: String) {
        self.log.record(format!("start {name}"));
        self.gate.pass().await;
        self.log.record(format!("end {name}"));
    }

    /// Asks the librarian, who calls back into `value` while this turn waits.
    pub async fn lookup(&self, ctx: &GrainContext<Self>) -> Result<u64, String> {
        ctx.grain::<Librarian>("l")
            .fetch_board(ctx.this())
            .await
            .unwrap()
    }

    /// An exclusive turn: `&mut self` never interleaves.
    pub async fn write(&mut self, value: u64) {
        self.log.record("write");
        self.value = value;
    }

    /// The value.
    pub async fn value(&self) -> u64 {
        self.value
    }
}

/// Answers at once; used to let the scheduler run for a while.
#[grain]
#[derive(Default)]
pub struct Echo;

#[grain]
impl Echo {
    /// Returns `n`.
    pub async fn echo(&self, n: u64) -> u64 {
        n
    }
}

async fn start(gate: &Gate, log: &Recorder) -> Silo {
    start_with(gate, log, &Gate::closed()).await
}

async fn start_with(gate: &Gate, log: &Recorder, librarian_gate: &Gate) -> Silo {
    let (g1, l1, g2, l2) = (gate.clone(), log.clone(), gate.clone(), log.clone());
    let g3 = librarian_gate.clone();
    silo()
        .ask_timeout(Duration::from_secs(30))
        .register_with(move |_| Library {
            gate: g1.clone(),
            log: l1.clone(),
            books: 42,
        })
        .register_with(move |_| Board {
            gate: g2.clone(),
            log: l2.clone(),
            value: 0,
        })
        .register_with(move |_| Librarian { gate: g3.clone() })
        .register::<Echo>()
        .start()
        .await
        .unwrap()
}

/// Many round trips through another grain, so that anything runnable gets to run.
async fn let_the_silo_run(silo: &Silo) {
    let echo = silo.grain::<Echo>("echo");
    for n in 0..20 {
        assert_eq!(echo.echo(n).await.unwrap(), n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reentrant_turn_can_be_called_back_while_it_waits() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = start(&gate, &log).await;
    let library = silo.grain::<Library>("a");
    let answer = tokio::time::timeout(WAIT, library.lookup())
        .await
        .expect("the call-back did not wait for the 30 s deadline");
    assert_eq!(answer, Ok(Ok(42)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reentrant_type_can_be_called_back_while_it_waits() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = start(&gate, &log).await;
    let board = silo.grain::<Board>("b");
    board.write(5).await.unwrap();
    let answer = tokio::time::timeout(WAIT, board.lookup())
        .await
        .expect("the call-back did not wait for the 30 s deadline");
    assert_eq!(answer, Ok(Ok(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_back_is_not_held_up_by_an_exclusive_call_queued_meanwhile() {
    let (gate, log, librarian_gate) = (Gate::closed(), Recorder::new(), Gate::closed());
    let silo = start_with(&gate, &log, &librarian_gate).await;
    let library = silo.grain::<Library>("a");
    let lookup = tokio::spawn({
        let library = library.clone();
        async move { library.lookup_later().await }
    });
    librarian_gate.wait_for_arrivals(1).await;
    // An exclusive call from another caller arrives while `lookup_later` waits. It must wait for
    // `lookup_later`, and `lookup_later` waits for the call-back: if the call-back queued behind
    // the exclusive call, the three would wait on each other until the 30 s deadline.
    let counted = tokio::spawn({
        let library = library.clone();
        async move { library.count().await }
    });
    eventually("the exclusive call to be queued", || {
        silo.activation_stats(&library).unwrap().mailbox_len == 1
    })
    .await;
    librarian_gate.open();

    let answer = tokio::time::timeout(WAIT, lookup)
        .await
        .expect("the call-back was held up behind the exclusive call")
        .unwrap();
    assert_eq!(answer, Ok(Ok(42)));
    assert_eq!(
        tokio::time::timeout(WAIT, counted).await.unwrap().unwrap(),
        Ok(42)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_back_never_overtakes_an_earlier_call_from_its_sender() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = start(&gate, &log).await;
    let library = silo.grain::<Library>("a");
    // The librarian's `add_book` waits for `lookup_after_adding` to end, so its `read`, sent
    // after `add_book`, must wait as well: it times out rather than run out of order.
    let answer = tokio::time::timeout(WAIT, library.lookup_after_adding())
        .await
        .unwrap()
        .unwrap();
    let error = answer.expect_err("the call-back overtook the sender's earlier add_book");
    assert!(error.contains("timed out"), "{error}");
    assert_eq!(library.count().await, Ok(43));
    assert_eq!(
        silo.stats().expired,
        1,
        "the late read was dropped unexecuted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_back_into_a_non_reentrant_method_is_refused() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = start(&gate, &log).await;
    let library = silo.grain::<Library>("a");
    let answer = tokio::time::timeout(WAIT, library.lookup_exclusive())
        .await
        .expect("the cycle was detected, not left to time out")
        .unwrap();
    let error = answer.unwrap_err();
    assert!(error.contains("would deadlock"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reentrant_methods_of_one_activation_run_side_by_side() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = start(&gate, &log).await;
    let library = silo.grain::<Library>("a");
    library.tell().hold("one".into()).unwrap();
    library.tell().hold("two".into()).unwrap();
    gate.wait_for_arrivals(2).await;
    assert_eq!(log.events(), ["start one", "start two"]);
    // Reading through another reentrant method works while both are held.
    assert_eq!(library.read().timeout(WAIT).await, Ok(42));
    gate.open();
    assert_eq!(library.count().await, Ok(42));
    assert_eq!(log.count("end one") + log.count("end two"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_reentrant_turn_waits_for_the_interleaved_ones_and_blocks_later_ones() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = start(&gate, &log).await;
    let library = silo.grain::<Library>("a");
    library.tell().hold("reentrant".into()).unwrap();
    library.tell().hold_alone("alone".into()).unwrap();
    library.tell().hold("later".into()).unwrap();
    gate.wait_for_arrivals(1).await;
    let_the_silo_run(&silo).await;
    assert_eq!(log.events(), ["start reentrant"]);
    assert_eq!(silo.activation_stats(&library).unwrap().mailbox_len, 2);

    gate.open();
    assert_eq!(library.count().await, Ok(42));
    assert_eq!(
        log.events(),
        [
            "start reentrant",
            "end reentrant",
            "start alone",
            "end alone",
            "start later",
            "end later"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reentrant_type_interleaves_every_shared_method() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = start(&gate, &log).await;
    let board = silo.grain::<Board>("b");
    for name in ["a", "b", "c"] {
        board.tell().hold(name.into()).unwrap();
    }
    gate.wait_for_arrivals(3).await;
    assert_eq!(board.value().timeout(WAIT).await, Ok(0));
    gate.open();
    assert_eq!(board.value().await, Ok(0));
    assert_eq!(log.events().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_call_queued_behind_interleaved_turns_waits_for_them() {
    let (gate, log) = (Gate::closed(), Recorder::new());
    let silo = start(&gate, &log).await;
    let board = silo.grain::<Board>("b");
    board.tell().hold("a".into()).unwrap();
    board.tell().hold("b".into()).unwrap();
    gate.wait_for_arrivals(2).await;
    board.tell().write(7).unwrap();
    board.tell().hold("c".into()).unwrap();
    let_the_silo_run(&silo).await;
    assert_eq!(log.events(), ["start a", "start b"]);
    assert_eq!(silo.activation_stats(&board).unwrap().mailbox_len, 2);

    gate.open();
    assert_eq!(board.value().await, Ok(7));
    let events = log.events();
    let at = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e} missing from {events:?}"))
    };
    assert!(
        at("write") > at("end a") && at("write") > at("end b"),
        "{events:?}"
    );
    assert!(at("start c") > at("write"), "{events:?}");
}
