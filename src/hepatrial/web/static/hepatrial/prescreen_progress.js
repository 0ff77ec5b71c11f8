// The pre-screening run page: follows the run's progress until it ends, then reloads.
(function () {
  var status = document.getElementById("run-status");
  function poll() {
    fetch(status.dataset.progressUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (d) {
      document.getElementById("run-progress").value = d.progress;
      document.getElementById("run-percent").textContent = Math.round(d.progress);
      if (d.status === "done" || d.status === "failed") { window.location.reload(); } else { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
