//! A transfer id moves money at most once: re-sending a transfer, or repeating a leg that already
//! reached an account before a restart, never debits or credits twice.

mod support;

use bank::{Account, BankError, Terms, Transfer, TransferStatus};
use support::{Engine, balances, start, stop};

#[tokio::test(flavor = "multi_thread")]
async fn resending_a_finished_transfer_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let silo = start(Engine::Redb, dir.path()).await;
    silo.grain::<Account>("a").open(100).await.unwrap().unwrap();
    silo.grain::<Account>("b").open(0).await.unwrap().unwrap();

    let terms = Terms::new("a", "b", 30);
    let transfer = silo.grain::<Transfer>("t-1");
    for _ in 0..3 {
        transfer.run(terms.clone()).await.unwrap().unwrap();
        assert_eq!(balances(&silo, &["a", "b"]).await, [70, 30]);
    }
    assert_eq!(transfer.status().await.unwrap(), TransferStatus::Completed);

    // The same id with other terms is refused, not run as a second transfer.
    let other = transfer
        .run(Terms::new("a", "b", 31))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(other, BankError::InvalidTransfer { .. }),
        "{other:?}"
    );

    // A restart does not make the transfer run again either.
    stop(silo).await;
    let silo = start(Engine::Redb, dir.path()).await;
    let transfer = silo.grain::<Transfer>("t-1");
    transfer.run(terms).await.unwrap().unwrap();
    transfer.resume().await.unwrap().unwrap();
    assert_eq!(balances(&silo, &["a", "b"]).await, [70, 30]);
    for account in ["a", "b"] {
        let statement = silo.grain::<Account>(account).statement().await.unwrap();
        assert!(statement.unsettled.is_empty(), "{account}: {statement:?}");
    }
    stop(silo).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn insufficient_funds_is_a_typed_error_that_resending_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let silo = start(Engine::Redb, dir.path()).await;
    silo.grain::<Account>("a").open(10).await.unwrap().unwrap();
    silo.grain::<Account>("b").open(0).await.unwrap().unwrap();

    let transfer = silo.grain::<Transfer>("t-poor");
    let refused = BankError::InsufficientFunds {
        account: "a".into(),
        balance: 10,
        requested: 25,
    };
    let terms = Terms::new("a", "b", 25);
    assert_eq!(
        transfer.run(terms.clone()).await.unwrap(),
        Err(refused.clone())
    );

    // The refusal is final: money arriving later does not make a re-send succeed.
    silo.grain::<Account>("c").open(50).await.unwrap().unwrap();
    silo.grain::<Transfer>("t-topup")
        .run(Terms::new("c", "a", 50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(transfer.run(terms).await.unwrap(), Err(refused.clone()));
    assert_eq!(
        transfer.status().await.unwrap(),
        TransferStatus::Failed { reason: refused }
    );
    assert_eq!(balances(&silo, &["a", "b", "c"]).await, [60, 0, 0]);
    stop(silo).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_debit_that_reached_the_account_before_a_restart_is_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let silo = start(Engine::Redb, dir.path()).await;
    silo.grain::<Account>("a").open(100).await.unwrap().unwrap();
    silo.grain::<Account>("b").open(0).await.unwrap().unwrap();
    // What a silo stopping between the account's write and the saga's leaves behind: the debit
    // of transfer "t-cut" is durable in account "a", and the saga never recorded it.
    let balance = silo
        .grain::<Account>("a")
        .debit("t-cut".into(), 40)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(balance, 60);
    stop(silo).await;

    let silo = start(Engine::Redb, dir.path()).await;
    silo.grain::<Transfer>("t-cut")
        .run(Terms::new("a", "b", 40))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(balances(&silo, &["a", "b"]).await, [60, 40]);
    let statement = silo.grain::<Account>("a").statement().await.unwrap();
    assert!(statement.unsettled.is_empty(), "{statement:?}");
    stop(silo).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credit_the_destination_refuses_is_refunded() {
    let dir = tempfile::tempdir().unwrap();
    let silo = start(Engine::Redb, dir.path()).await;
    silo.grain::<Account>("a").open(100).await.unwrap().unwrap();

    let transfer = silo.grain::<Transfer>("t-nobody");
    let refused = BankError::NotOpen {
        account: "nobody".into(),
    };
    assert_eq!(
        transfer.run(Terms::new("a", "nobody", 40)).await.unwrap(),
        Err(refused.clone())
    );
    assert_eq!(
        transfer.status().await.unwrap(),
        TransferStatus::Failed { reason: refused }
    );
    let statement = silo.grain::<Account>("a").statement().await.unwrap();
    assert_eq!(statement.balance, 100);
    assert!(statement.unsettled.is_empty(), "{statement:?}");

    // A refund needs a debit to give back: it can never create money.
    let refund = silo
        .grain::<Account>("a")
        .refund("t-never".into(), 40)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(refund, BankError::InvalidTransfer { .. }),
        "{refund:?}"
    );
    assert_eq!(
        silo.grain::<Transfer>("t-never").resume().await.unwrap(),
        Err(BankError::UnknownTransfer {
            transfer: "t-never".into()
        })
    );
    stop(silo).await;
}
