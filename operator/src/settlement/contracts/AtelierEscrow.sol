// SPDX-License-Identifier: Apache-2.0
// AtelierEscrow: holds ERC-20 funds for one (RenderJob, provider) pair under an id computed off-chain,
// so that the operator (the payer) pays a provider only for verified work and gets the rest back.
// Every step can happen at most once per id (open; release or refund), which is what lets the
// operator retry any transaction after a crash without ever paying twice. The payer decides the
// amount released; the contract only guarantees custody, exact-once settlement and that unspent funds
// return to the payer (refund is callable by anyone after the deadline, but always pays the payer).
// Token calls go through OpenZeppelin's SafeERC20 (tokens whose transfer functions return nothing are
// accepted, `false` reverts with SafeERC20FailedOperation, a token's own revert passes through) and
// follow checks-effects-interactions behind OpenZeppelin's transient-storage reentrancy guard
// (ReentrancyGuardReentrantCall). Tokens that deliver less than asked (fee-on-transfer) are rejected,
// since they would leave other escrows of the same token short. Ids are first come, first served: the
// first opener of an id is its payer, which the client checks (ESCROW_CONFLICT). Fuzz and invariant
// tests with Foundry's forge: contracts/test/ (make check-contracts).
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

contract AtelierEscrow is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    enum State {
        None,
        Open,
        Released,
        Refunded
    }

    // Slot 0 packs payer, deadline and state; the struct spans five slots.
    struct Escrow {
        address payer;
        uint64 deadline;
        State state;
        address provider;
        address token;
        uint256 amount;
        bytes32 resultDigest;
    }

    mapping(bytes32 => Escrow) private _escrows;

    event EscrowOpened(
        bytes32 indexed escrowId,
        address indexed payer,
        address indexed provider,
        address token,
        uint256 amount,
        uint64 deadline
    );
    event EscrowToppedUp(bytes32 indexed escrowId, uint256 added, uint256 amount);
    event EscrowReleased(
        bytes32 indexed escrowId,
        address indexed provider,
        uint256 toProvider,
        uint256 toPayer,
        bytes32 resultDigest
    );
    event EscrowRefunded(bytes32 indexed escrowId, address indexed payer, uint256 amount);

    error EscrowExists(bytes32 escrowId);
    error EscrowNotOpen(bytes32 escrowId, State state);
    error NotPayer(bytes32 escrowId, address caller);
    error ZeroAddress();
    error ZeroAmount();
    error DeadlineInPast(uint64 deadline, uint256 timestamp);
    error DeadlineNotReached(bytes32 escrowId, uint64 deadline, uint256 timestamp);
    error AmountExceedsFunded(bytes32 escrowId, uint256 requested, uint256 funded);
    error AmountNotIncreased(bytes32 escrowId, uint256 current, uint256 requested);
    error TokenNotContract(address token);
    error TransferAmountMismatch(address token, uint256 expected, uint256 received);

    /// Opens escrow `escrowId`, pulling `amount` of `token` from the caller (who becomes the payer).
    function open(bytes32 escrowId, address token, address provider, uint256 amount, uint64 deadline)
        external
        nonReentrant
    {
        Escrow storage e = _escrows[escrowId];
        if (e.state != State.None) revert EscrowExists(escrowId);
        if (token == address(0) || provider == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (deadline <= block.timestamp) revert DeadlineInPast(deadline, block.timestamp);
        // Checked here so that a wrong address fails by name, not inside balanceOf's empty return data.
        if (token.code.length == 0) revert TokenNotContract(token);

        e.payer = msg.sender;
        e.deadline = deadline;
        e.state = State.Open;
        e.provider = provider;
        e.token = token;
        e.amount = amount;
        emit EscrowOpened(escrowId, msg.sender, provider, token, amount, deadline);

        _pull(token, msg.sender, amount);
    }

    /// Raises the funded amount of an open escrow to `newAmount`, pulling the difference from the
    /// payer. Taking the target rather than the increment makes a replayed top-up revert instead of
    /// funding twice.
    function topUp(bytes32 escrowId, uint256 newAmount) external nonReentrant {
        Escrow storage e = _escrows[escrowId];
        State s = e.state;
        if (s != State.Open) revert EscrowNotOpen(escrowId, s);
        if (msg.sender != e.payer) revert NotPayer(escrowId, msg.sender);
        uint256 current = e.amount;
        if (newAmount <= current) revert AmountNotIncreased(escrowId, current, newAmount);

        e.amount = newAmount;
        uint256 added = newAmount - current;
        emit EscrowToppedUp(escrowId, added, newAmount);

        _pull(e.token, msg.sender, added);
    }

    /// Pays the provider exactly `amountToProvider` and returns the rest to the payer; once. Allowed
    /// after the deadline too, until someone refunds: a late verified result can still be paid.
    function release(bytes32 escrowId, uint256 amountToProvider, bytes32 resultDigest) external nonReentrant {
        Escrow storage e = _escrows[escrowId];
        State s = e.state;
        if (s != State.Open) revert EscrowNotOpen(escrowId, s);
        address payer = e.payer;
        if (msg.sender != payer) revert NotPayer(escrowId, msg.sender);
        uint256 funded = e.amount;
        if (amountToProvider > funded) revert AmountExceedsFunded(escrowId, amountToProvider, funded);

        e.state = State.Released;
        e.resultDigest = resultDigest;
        address token = e.token;
        address provider = e.provider;
        uint256 toPayer = funded - amountToProvider;
        emit EscrowReleased(escrowId, provider, amountToProvider, toPayer, resultDigest);

        if (amountToProvider != 0) _push(token, provider, amountToProvider);
        if (toPayer != 0) _push(token, payer, toPayer);
    }

    /// Returns everything to the payer once the deadline has passed; anyone may trigger it.
    function refund(bytes32 escrowId) external nonReentrant {
        Escrow storage e = _escrows[escrowId];
        State s = e.state;
        if (s != State.Open) revert EscrowNotOpen(escrowId, s);
        uint64 deadline = e.deadline;
        if (block.timestamp <= deadline) revert DeadlineNotReached(escrowId, deadline, block.timestamp);
        _refund(escrowId, e);
    }

    /// Returns everything to the payer at any time, by the payer only (a job deleted before its
    /// deadline). It grants the payer nothing new: release(id, 0, ...) has the same effect on funds.
    function cancel(bytes32 escrowId) external nonReentrant {
        Escrow storage e = _escrows[escrowId];
        State s = e.state;
        if (s != State.Open) revert EscrowNotOpen(escrowId, s);
        if (msg.sender != e.payer) revert NotPayer(escrowId, msg.sender);
        _refund(escrowId, e);
    }

    function escrows(bytes32 escrowId)
        external
        view
        returns (
            address payer,
            address provider,
            address token,
            uint256 amount,
            uint64 deadline,
            State state,
            bytes32 resultDigest
        )
    {
        Escrow storage e = _escrows[escrowId];
        return (e.payer, e.provider, e.token, e.amount, e.deadline, e.state, e.resultDigest);
    }

    function _refund(bytes32 escrowId, Escrow storage e) private {
        e.state = State.Refunded;
        address payer = e.payer;
        uint256 amount = e.amount;
        emit EscrowRefunded(escrowId, payer, amount);
        _push(e.token, payer, amount);
    }

    function _pull(address token, address from, uint256 amount) private {
        IERC20 t = IERC20(token);
        uint256 before = t.balanceOf(address(this));
        t.safeTransferFrom(from, address(this), amount);
        uint256 afterwards = t.balanceOf(address(this));
        if (afterwards < before || afterwards - before != amount) {
            revert TransferAmountMismatch(token, amount, afterwards < before ? 0 : afterwards - before);
        }
    }

    function _push(address token, address to, uint256 amount) private {
        IERC20(token).safeTransfer(to, amount);
    }
}
