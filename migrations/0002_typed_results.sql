-- bitlab results database, schema version 2: the typed results vocabulary (src/store).
-- Converts the rows of version 1 once; nothing recorded is lost.

-- What wrote each experiment, so a report picks its template from the record. Version 1 had no
-- such column: a report took an experiment with a done `stack_time` measurement for a
-- model-scaling benchmark, else one with a done `kernel_time` measurement for a kernel
-- benchmark, else a trial sweep; that same rule fills the column once here.
ALTER TABLE experiments ADD COLUMN kind TEXT NOT NULL DEFAULT 'trial_sweep'
    CHECK (kind IN ('trial_sweep', 'kernel_bench', 'model_scaling'));
UPDATE experiments SET kind = CASE
    WHEN EXISTS (SELECT 1 FROM trials t JOIN measurements m ON m.trial_id = t.id
                 WHERE t.experiment_id = experiments.id AND t.status = 'done'
                   AND m.kind = 'stack_time') THEN 'model_scaling'
    WHEN EXISTS (SELECT 1 FROM trials t JOIN measurements m ON m.trial_id = t.id
                 WHERE t.experiment_id = experiments.id AND t.status = 'done'
                   AND m.kind = 'kernel_time') THEN 'kernel_bench'
    ELSE 'trial_sweep'
END;

-- The kernel of a measurement as columns instead of one name. The name was
-- "{matmul} + {attention} attention" or a matmul name alone; it is split at its first " + "
-- exactly as KernelId::from_recorded_name splits it (src/store/kernel_id.rs; a test checks
-- both agree), and "{matmul}" + " + {attention} attention" gives the old name back.
ALTER TABLE measurements ADD COLUMN kernel_matmul TEXT NOT NULL DEFAULT '';
ALTER TABLE measurements ADD COLUMN kernel_backend TEXT
    CHECK (kernel_backend IS NULL OR kernel_backend IN ('avx2', 'portable'));
ALTER TABLE measurements ADD COLUMN kernel_dequantized INTEGER NOT NULL DEFAULT 0
    CHECK (kernel_dequantized IN (0, 1));
ALTER TABLE measurements ADD COLUMN kernel_attention TEXT;
UPDATE measurements SET
    kernel_matmul = CASE
        WHEN instr(kernel, ' + ') > 0 AND substr(kernel, -10) = ' attention'
             AND length(kernel) - instr(kernel, ' + ') - 12 >= 0
        THEN substr(kernel, 1, instr(kernel, ' + ') - 1)
        ELSE kernel
    END,
    kernel_attention = CASE
        WHEN instr(kernel, ' + ') > 0 AND substr(kernel, -10) = ' attention'
             AND length(kernel) - instr(kernel, ' + ') - 12 >= 0
        THEN substr(kernel, instr(kernel, ' + ') + 3, length(kernel) - instr(kernel, ' + ') - 12)
        ELSE NULL
    END,
    kernel_backend = CASE
        WHEN kernel LIKE '%-avx2%' THEN 'avx2'
        WHEN kernel LIKE '%-portable%' THEN 'portable'
        ELSE NULL
    END,
    kernel_dequantized = (kernel LIKE '%dequantized%' OR kernel LIKE '%fake-quantized%');
ALTER TABLE measurements DROP COLUMN kernel;
