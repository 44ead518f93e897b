//! The soak-and-chaos run (`scripts/chaos`): two replicas of every service on PostgreSQL under
//! load while replicas are killed, frozen and restarted. Short by default (CI); `EYRIE_CHAOS_*`
//! variables make it longer (see `eyrie_tests::chaos::Plan::from_env`).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_duplicated_or_stuck_when_replicas_die_under_load() {
    let Some(url) = eyrie_tests::chaos::postgres_url() else {
        eprintln!("skipped: the chaos run needs PostgreSQL (EYRIE_TEST_DATABASE_URL)");
        return;
    };
    let plan = eyrie_tests::chaos::Plan::from_env();
    eprintln!("chaos plan: {plan:?}");
    let report = eyrie_tests::chaos::run(&plan, &url).await.unwrap();
    println!("{report}");
    eyrie_tests::chaos::assert_nothing_lost(&report).unwrap();
}
