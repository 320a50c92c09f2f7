from commitlake_workflows.render import main

raise SystemExit(main())
