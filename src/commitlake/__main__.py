from commitlake.cli import main

raise SystemExit(main())
